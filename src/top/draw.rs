//! The terminal rendering: header (server, pool gauge, rates, listen queue,
//! frozen children), the scoreboard map, then the workers in flight or the
//! busy workers per vhost, and the keys. It lays out [`super::view`]'s
//! text; whatever does not fit the screen is cut (the plain frame has all).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use super::view::{self, Cell, Sample, Ui, View};
use crate::scoreboard::status;

const HELP: [&str; 13] = [
    "q, Ctrl-C  quit",
    "p          pause / resume refreshing",
    "s          cycle the sort of the table",
    "v          workers in flight <-> busy workers per vhost",
    "/          filter by vhost, client or request text",
    "           (Enter keeps it, Esc clears it)",
    "arrows, PgUp/PgDn, Home  scroll the table",
    "?          this help (any key closes it)",
    "",
    "Ages of R slots count from when the worker last left idle.",
    "",
    "_ idle  W write  R read  K keepalive  L log  D dns  C closing",
    "G graceful  I cleanup  S start  . open; dim: disabled slot",
];

/// Draws the whole screen.
pub fn draw(f: &mut Frame, s: &Sample, ui: &Ui) {
    let area = f.area();
    let map_lines = map_lines(s, area.width.saturating_sub(2));
    // The map takes at most a third of the screen; the table the rest.
    let map_height = (map_lines.len() as u16 + 1).min((area.height / 3).max(3));
    let [header, map, table, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(map_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, s, ui);
    draw_map(f, map, map_lines);
    match ui.view {
        View::Workers => draw_workers(f, table, s, ui),
        View::Groups => draw_groups(f, table, s, ui),
    }
    draw_footer(f, footer, ui);
    if ui.help {
        draw_help(f, area);
    }
}

fn draw_header(f: &mut Frame, area: Rect, s: &Sample, ui: &Ui) {
    let alarm = Style::new().fg(Color::Red);
    let frozen = s
        .health
        .as_ref()
        .is_some_and(|h| h.frozen() || h.hung() || h.queued().unwrap_or(0) > 0);
    // A failed refresh replaces the rates, which it left stale: the
    // figures above are the last good ones.
    let third = match &s.error {
        Some(e) => Line::styled(format!("refresh failed: {e}"), alarm),
        None if frozen => Line::styled(view::rates_line(s), alarm),
        None => Line::raw(view::rates_line(s)),
    };
    let lines = vec![
        Line::raw(view::title_line(s, ui)),
        gauge(s, area.width),
        third,
    ];
    f.render_widget(Paragraph::new(lines), area);
}

/// `[█████▒▒▒▒▒·····] busy 3 · idle 9 ...`: busy, graceful and idle
/// workers and open slots in proportion to the capacity.
fn gauge(s: &Sample, width: u16) -> Line<'static> {
    let text = view::pool_line(s);
    let bar_width = (usize::from(width)).saturating_sub(text.chars().count() + 3);
    let Some(capacity) = s.pool.capacity.filter(|&c| c > 0 && bar_width >= 10) else {
        return Line::raw(text);
    };
    let sum = &s.pool.summary;
    let cells = |n: usize| (n * bar_width).div_ceil(capacity).min(bar_width);
    let busy = cells(sum.busy);
    let graceful = cells(sum.graceful).min(bar_width - busy);
    let idle = cells(sum.idle).min(bar_width - busy - graceful);
    let open = bar_width - busy - graceful - idle;
    Line::from(vec![
        Span::raw("["),
        Span::styled("█".repeat(busy), Style::new().fg(busy_colour(s))),
        Span::styled("▒".repeat(graceful), Style::new().fg(Color::Magenta)),
        Span::styled("▒".repeat(idle), Style::new().fg(Color::Green)),
        Span::styled("·".repeat(open), Style::new().fg(Color::DarkGray)),
        Span::raw("] "),
        Span::raw(text),
    ])
}

fn busy_colour(s: &Sample) -> Color {
    match s.pool.busy_pct {
        Some(p) if p >= 90.0 => Color::Red,
        Some(p) if p >= 75.0 => Color::Yellow,
        _ => Color::Cyan,
    }
}

/// The map as lines of `width` at most: per process slot `slot pid cells`
/// when its row fits, else the slots wrapped.
fn map_lines(s: &Sample, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let mut lines = Vec::new();
    let prefix = 10; // "{slot:>3} {pid:>6} "
    let per_line = width.saturating_sub(prefix).max(1);
    let threads = s.map.first().map_or(0, |r| r.cells.len());
    if threads > 1 {
        for row in &s.map {
            for (i, chunk) in row.cells.chunks(per_line).enumerate() {
                let head = if i == 0 {
                    format!("{:>3} {:>6} ", row.process_slot, pid_text(row.pid))
                } else {
                    " ".repeat(prefix)
                };
                lines.push(cell_line(head, chunk));
            }
        }
    } else {
        // One worker per process (prefork): the slots in a run.
        let cells: Vec<Cell> = s.map.iter().flat_map(|r| r.cells.clone()).collect();
        for (i, chunk) in cells.chunks(per_line).enumerate() {
            lines.push(cell_line(format!("{:>9} ", i * per_line), chunk));
        }
    }
    lines
}

fn pid_text(pid: i32) -> String {
    if pid == 0 {
        "-".into()
    } else {
        pid.to_string()
    }
}

fn cell_line(head: String, cells: &[Cell]) -> Line<'static> {
    let mut spans = vec![Span::styled(head, Style::new().fg(Color::DarkGray))];
    // Runs of one style in one span.
    let mut run = String::new();
    let mut run_style = None;
    for c in cells {
        let style = cell_style(*c);
        if run_style.is_some_and(|s| s != style) {
            spans.push(Span::styled(
                std::mem::take(&mut run),
                run_style.unwrap_or_default(),
            ));
        }
        run_style = Some(style);
        run.push(status::char_of(c.status));
    }
    if let Some(style) = run_style {
        spans.push(Span::styled(run, style));
    }
    Line::from(spans)
}

fn cell_style(c: Cell) -> Style {
    if c.disabled {
        return Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM);
    }
    let fg = match c.status {
        status::READY => Color::Green,
        status::DEAD => Color::DarkGray,
        status::BUSY_WRITE => Color::Yellow,
        status::BUSY_READ => Color::Cyan,
        status::BUSY_KEEPALIVE => Color::Blue,
        status::BUSY_LOG | status::BUSY_DNS => Color::Magenta,
        status::CLOSING => Color::LightBlue,
        status::GRACEFUL | status::IDLE_KILL => Color::Gray,
        status::STARTING => Color::White,
        _ => Color::Red,
    };
    let style = Style::new().fg(fg);
    if view::busy_status(c.status) {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    }
}

fn draw_map(f: &mut Frame, area: Rect, mut lines: Vec<Line<'static>>) {
    let inner = usize::from(area.height.saturating_sub(1));
    if lines.len() > inner && inner > 0 {
        let more = lines.len() - inner + 1;
        lines.truncate(inner - 1);
        lines.push(Line::styled(
            format!("… {more} more lines (the plain frame, --once, has all)"),
            Style::new().fg(Color::DarkGray),
        ));
    }
    let title = if usize::from(area.width) >= view::LEGEND.len() + 14 {
        format!("Scoreboard  {}", view::LEGEND)
    } else {
        "Scoreboard  (? for the legend)".into()
    };
    let block = Block::new().borders(Borders::TOP).title(title);
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// Column widths: the widest cell of each column, the last takes the rest.
fn widths(titles: &[&str], rows: &[Vec<String>], caps: &[u16]) -> Vec<Constraint> {
    let n = titles.len();
    (0..n)
        .map(|i| {
            if i + 1 == n {
                return Constraint::Fill(1);
            }
            let widest = rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([titles[i].len()])
                .max()
                .unwrap_or(0) as u16;
            Constraint::Length(widest.min(caps.get(i).copied().unwrap_or(40)))
        })
        .collect()
}

/// A table of `rows` from `scroll` on (kept so that the last page stays
/// full), titled `title` with the rows shown.
fn table(
    f: &mut Frame,
    area: Rect,
    title: String,
    titles: &[&str],
    rows: Vec<Vec<String>>,
    caps: &[u16],
    scroll: usize,
) {
    let widths = widths(titles, &rows, caps);
    let fits = usize::from(area.height.saturating_sub(2));
    let first = scroll.min(rows.len().saturating_sub(fits));
    let title = if rows.len() > fits {
        format!(
            "{title} · rows {}-{} (arrows, PgUp/PgDn, Home)",
            first + 1,
            (first + fits).min(rows.len())
        )
    } else {
        title
    };
    let header = Row::new(titles.to_vec()).style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows.into_iter().skip(first).map(Row::new), widths)
        .header(header)
        .block(Block::new().borders(Borders::TOP).title(title));
    f.render_widget(table, area);
}

fn draw_workers(f: &mut Frame, area: Rect, s: &Sample, ui: &Ui) {
    let rows: Vec<Vec<String>> = ui
        .workers(s)
        .into_iter()
        .map(|w| view::worker_cells(s, w))
        .collect();
    let title = view::workers_title(s, ui, rows.len());
    // PID, SLOT, ST, AGE, [CLIENT], VHOST, [USER]: vhosts are cut at 31
    // bytes by httpd, clients are at most an IPv6 address.
    let mut caps = vec![7, 7, 2, 7];
    if s.clients_shown {
        caps.push(39);
    }
    caps.push(31);
    if s.users_known() {
        caps.push(16);
    }
    table(
        f,
        area,
        title,
        &view::worker_titles(s),
        rows,
        &caps,
        ui.scroll,
    );
}

fn draw_groups(f: &mut Frame, area: Rect, s: &Sample, ui: &Ui) {
    let rows: Vec<Vec<String>> = ui.groups(s).into_iter().map(view::group_cells).collect();
    let title = view::groups_title(s, ui, rows.len());
    table(
        f,
        area,
        title,
        &view::GROUP_TITLES,
        rows,
        &[31, 6, 6],
        ui.scroll,
    );
}

fn draw_footer(f: &mut Frame, area: Rect, ui: &Ui) {
    let line = match &ui.editing {
        Some(text) => Line::from(vec![
            Span::styled("filter: ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!("{text}_")),
            Span::styled(
                "  (Enter keep, Esc clear)",
                Style::new().fg(Color::DarkGray),
            ),
        ]),
        None => Line::styled(
            format!(
                "q quit  p {}  s sort  v {}  / filter  ? help",
                if ui.paused { "resume" } else { "pause" },
                match ui.view {
                    View::Workers => "vhosts",
                    View::Groups => "workers",
                }
            ),
            Style::new().add_modifier(Modifier::REVERSED),
        ),
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_help(f: &mut Frame, area: Rect) {
    let width =
        (HELP.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4).min(area.width);
    let height = (HELP.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(HELP.map(Line::raw).to_vec())
            .block(Block::bordered().title("apache-scoreboard top: keys")),
        popup,
    );
}
