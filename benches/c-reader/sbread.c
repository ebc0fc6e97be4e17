/*
 * The baseline of contrib/bench-vs-c.sh: the least a scoreboard check can
 * do. Opens the POSIX shm object of an httpd 2.4.63+ (LP64) scoreboard,
 * maps it read-only, walks every worker slot and prints one line with the
 * busy and idle counts, as mod_status counts them (no generation check).
 * No libapr, no layout detection, no liveness check, no thresholds.
 *
 *   cc -O2 -o sbread sbread.c && ./sbread /dev/shm/ShM.<h1>H<h2>
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { HEADER = 8, GLOBAL = 56, PROCESS = 40, WORKER = 336, STATUS = 20 };
enum { DEAD = 0, STARTING = 1, READY = 2, IDLE_KILL = 9 };

int main(int argc, char **argv)
{
    struct stat st;
    int fd, sl, tl, i, busy = 0, idle = 0;
    const unsigned char *p;

    if (argc != 2) {
        printf("SCOREBOARD UNKNOWN - usage: sbread SEGMENT\n");
        return 3;
    }
    fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < HEADER + GLOBAL) {
        printf("SCOREBOARD UNKNOWN - %s: cannot read\n", argv[1]);
        return 3;
    }
    p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        printf("SCOREBOARD UNKNOWN - %s: cannot map\n", argv[1]);
        return 3;
    }
    memcpy(&sl, p + HEADER, 4);
    memcpy(&tl, p + HEADER + 4, 4);
    if (sl <= 0 || tl <= 0 ||
        (long long)HEADER + GLOBAL + (long long)PROCESS * sl +
                (long long)WORKER * sl * tl != st.st_size) {
        printf("SCOREBOARD UNKNOWN - %s: not a 2.4.63+ scoreboard\n", argv[1]);
        return 3;
    }
    p += HEADER + GLOBAL + PROCESS * sl;
    for (i = 0; i < sl * tl; i++) {
        unsigned char s = p[(long)i * WORKER + STATUS];
        if (s == READY)
            idle++;
        else if (s != DEAD && s != STARTING && s != IDLE_KILL)
            busy++;
    }
    printf("SCOREBOARD OK - %d busy, %d idle | busy=%d idle=%d\n", busy, idle,
           busy, idle);
    return 0;
}
