/* checksum_file.c — zc64 of a file (tests the C and Swift checksums agree). */
#include <stdio.h>
#include "zc_checksum.h"
int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: checksum_file FILE\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static char buf[65536 + 3];
    zc64 c; zc64_init(&c);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) zc64_update(&c, buf, n);
    fclose(f);
    printf("%016llx\n", (unsigned long long)zc64_final(&c));
    return 0;
}
