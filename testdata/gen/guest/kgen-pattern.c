/*
 * kgen-pattern: writes the corpus test pattern onto a block device.
 *
 *   kgen-pattern DEVICE LVNAME SECTOR COUNT TAG [STRIDE TIMES]
 *
 * Sector number s (counted from the start of DEVICE, in 512-byte units) for
 * s in [SECTOR, SECTOR+COUNT) receives 512 bytes made of the text line
 *
 *     "<TAG> <LVNAME> <s>\n"      (s in decimal, no leading zeros)
 *
 * repeated from byte 0 on and cut off at byte 512.  The data is written with
 * O_DIRECT, one pwrite() per piece of at most 2048 sectors (1 MiB) in
 * ascending order, then fsync().  The kernel therefore sees bios of exactly
 * the requested size and alignment (a single sector stays a 512-byte bio).
 * With STRIDE and TIMES the same is done TIMES times, the k-th time (k from
 * 0) at SECTOR + k*STRIDE, in ascending k.
 *
 * Built statically on the host by testdata/gen/kgen.py; runs in the guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECTOR_BYTES 512
#define PIECE_SECTORS 2048

static void fill_sector(unsigned char *dst, const char *tag, const char *lv,
                        unsigned long long s)
{
    char line[600];
    int len = snprintf(line, sizeof line, "%s %s %llu\n", tag, lv, s);
    if (len <= 0 || len >= (int)sizeof line) {
        fprintf(stderr, "kgen-pattern: tag or LV name too long\n");
        exit(2);
    }
    for (int i = 0; i < SECTOR_BYTES; i++)
        dst[i] = (unsigned char)line[i % len];
}

static int write_run(int fd, const char *dev, unsigned char *buf,
                     const char *lv, const char *tag,
                     unsigned long long first, unsigned long long count)
{
    unsigned long long done = 0;
    while (done < count) {
        unsigned long long n = count - done;
        if (n > PIECE_SECTORS)
            n = PIECE_SECTORS;
        for (unsigned long long k = 0; k < n; k++)
            fill_sector(buf + k * SECTOR_BYTES, tag, lv, first + done + k);
        off_t off = (off_t)((first + done) * SECTOR_BYTES);
        ssize_t w = pwrite(fd, buf, n * SECTOR_BYTES, off);
        if (w != (ssize_t)(n * SECTOR_BYTES)) {
            fprintf(stderr, "kgen-pattern: write %s at sector %llu: %s\n", dev,
                    first + done, w < 0 ? strerror(errno) : "short write");
            return 1;
        }
        done += n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 8) {
        fprintf(stderr, "usage: kgen-pattern DEVICE LVNAME SECTOR COUNT TAG"
                " [STRIDE TIMES]\n");
        return 2;
    }
    const char *dev = argv[1], *lv = argv[2], *tag = argv[5];
    char *end;
    unsigned long long first = strtoull(argv[3], &end, 10);
    if (*end) { fprintf(stderr, "kgen-pattern: bad SECTOR\n"); return 2; }
    unsigned long long count = strtoull(argv[4], &end, 10);
    if (*end) { fprintf(stderr, "kgen-pattern: bad COUNT\n"); return 2; }
    unsigned long long stride = 0, times = 1;
    if (argc == 8) {
        stride = strtoull(argv[6], &end, 10);
        if (*end) { fprintf(stderr, "kgen-pattern: bad STRIDE\n"); return 2; }
        times = strtoull(argv[7], &end, 10);
        if (*end) { fprintf(stderr, "kgen-pattern: bad TIMES\n"); return 2; }
    }

    int fd = open(dev, O_WRONLY | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "kgen-pattern: open %s: %s\n", dev, strerror(errno));
        return 1;
    }
    unsigned char *buf;
    if (posix_memalign((void **)&buf, 4096, PIECE_SECTORS * SECTOR_BYTES)) {
        fprintf(stderr, "kgen-pattern: out of memory\n");
        return 1;
    }
    for (unsigned long long k = 0; k < times; k++) {
        if (write_run(fd, dev, buf, lv, tag, first + k * stride, count))
            return 1;
    }
    if (fsync(fd)) {
        fprintf(stderr, "kgen-pattern: fsync %s: %s\n", dev, strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}
