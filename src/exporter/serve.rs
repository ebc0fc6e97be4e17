//! The exporter's HTTP side (tiny_http parses the requests): `/metrics`,
//! `/probe?target=`, and `/` linking to them. A few threads answer
//! scrapes in parallel; SIGTERM or SIGINT ends the process cleanly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

use super::Exporter;
use crate::prometheus::Format;

/// Threads answering requests: scrapes take a millisecond, so a few
/// cover parallel scrapers and a slow client.
const THREADS: usize = 4;

/// How often a waiting thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Serves until SIGTERM or SIGINT.
pub fn serve(exporter: Exporter, listen: &str) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let server = Server::from_listener(listener(listen)?, None)
        .map_err(|e| anyhow::anyhow!("listen on {listen}: {e}"))?;
    let (server, exporter) = (Arc::new(server), Arc::new(exporter));
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (server, exporter, stop) = (
                Arc::clone(&server),
                Arc::clone(&exporter),
                Arc::clone(&stop),
            );
            std::thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(POLL) {
                            Ok(Some(request)) => answer(&exporter, request),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
        })
        .collect::<Result<_, _>>()?;
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// A listening socket whose connections send each response at once
/// (TCP_NODELAY, which accepted sockets inherit): tiny_http writes the
/// headers and the body separately, and Nagle's algorithm would hold the
/// body until the client's delayed ACK, 40 ms a scrape.
fn listener(listen: &str) -> anyhow::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let addr = std::net::ToSocketAddrs::to_socket_addrs(listen)
        .map_err(|e| anyhow::anyhow!("listen address {listen}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("listen address {listen}: no address"))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nodelay(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| anyhow::anyhow!("listen on {listen}: {e}"))?;
    socket.listen(128)?;
    Ok(socket.into())
}

fn answer(exporter: &Exporter, request: Request) {
    let response = respond(exporter, &request);
    // A client that went away is its own business.
    let _ = request.respond(response);
}

fn respond(exporter: &Exporter, request: &Request) -> Response<std::io::Cursor<Vec<u8>>> {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return text(405, "text/plain; charset=utf-8", "GET only\n".into());
    }
    let url = request.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let accept = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Accept"))
        .map(|h| h.value.as_str());
    let format = Format::from_accept(accept);
    match path {
        "/metrics" => match exporter.scrape(None) {
            Some(e) => text(200, format.content_type(), e.write(format)),
            None => text(404, "text/plain; charset=utf-8", "no scoreboard\n".into()),
        },
        "/probe" => {
            let target = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "target")
                .map(|(_, v)| v.into_owned());
            match target.as_deref().map(|t| exporter.scrape(Some(t))) {
                Some(Some(e)) => text(200, format.content_type(), e.write(format)),
                Some(None) => text(
                    404,
                    "text/plain; charset=utf-8",
                    "not a scoreboard of this exporter (see /)\n".into(),
                ),
                None => text(400, "text/plain; charset=utf-8", "target= missing\n".into()),
            }
        }
        "/" => text(200, "text/html; charset=utf-8", index(exporter)),
        _ => text(404, "text/plain; charset=utf-8", "not found\n".into()),
    }
}

fn text(status: u16, content_type: &str, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut r = Response::from_data(body.into_bytes()).with_status_code(status);
    if let Ok(h) = Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        r.add_header(h);
    }
    r
}

/// The small page at `/`.
fn index(exporter: &Exporter) -> String {
    let mut targets = String::new();
    for t in exporter.targets() {
        let name = t.to_string_lossy();
        let q: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        targets.push_str(&format!(
            "<li><a href=\"/probe?target={q}\">{}</a></li>\n",
            html_escape(&name)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><title>apache-scoreboard exporter</title></head><body>\n\
         <h1>apache-scoreboard exporter</h1>\n\
         <p>apache_exporter's metrics read from httpd's scoreboard segment: <a href=\"/metrics\">/metrics</a></p>\n\
         <p>Scoreboards (<code>/probe?target=</code>):</p>\n<ul>\n{targets}</ul>\n</body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
