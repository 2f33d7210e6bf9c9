/*
 * Host profiles (profile.c): the built-in table parses, format and parse round-trip, every
 * kind of bad file is rejected with its errno and a note naming the problem (never a
 * crash, never a block on a FIFO), a profile from another machine/kernel/CPU count is
 * stale, the file is located through ZEROCOPY_PROFILE, XDG_CACHE_HOME and HOME, and
 * zc_transfer with NULL parameters decides with the host's profile.
 */
#define _GNU_SOURCE
#include "zc_test.h"

/* A unique scratch directory under $TMPDIR (removed by rm_tree). */
static char scratch[256];

static void make_scratch(void) {
    snprintf(scratch, sizeof scratch, "%s/zc-profile-XXXXXX", zt_tmpdir());
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_scratch(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0) zt_note("could not remove %s", scratch);
}

static void write_file(const char *path, const char *text, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    zt_pwrite_full(fd, text, len, 0);
    close(fd);
}

/* A valid profile of this host with the given parameters, formatted. */
static int host_profile_text(const zc_plan_params *params, char *buf, size_t len) {
    zc_profile p;
    memset(&p, 0, sizeof p);
    if (zc_profile_identify(&p) != 0) return -1;
    p.params = *params;
    snprintf(p.measured, sizeof p.measured, "test_profile");
    return zc_profile_format(&p, buf, len);
}

static const char *good_lines =
    "zerocopy-profile 1\n"
    "host 0123456789abcdef\n"
    "kernel 6.1.0-test\n"
    "cpus 4\n"
    "created 2026-01-02T03:04:05Z\n"
    "measured by hand\n"
    "smallCopyMax 8192\n"
    "readWriteBuffer 65536\n"
    "copyFileRangeMax 1048576\n"
    "pipeSendfileMax 0\n"
    "socketSendfileMax max\n";

/* The compiled-in table is a profile that the same parser reads. */
static void test_builtin(void) {
    zc_profile b;
    memset(&b, 0x5A, sizeof b);
    zc_profile_builtin(&b);
    CHECK_EQ(b.source, ZC_PROFILE_BUILTIN);
    CHECK(b.path[0] == '\0');
    CHECK(b.note[0] == '\0');
    CHECK(strncmp(b.measured, "fallback constants", 18) != 0); /* plan_builtin.h parsed */
    CHECK(strlen(b.measured) > 0);
    zc_plan_params d;
    zc_plan_params_default(&d);
    CHECK(memcmp(&d, &b.params, sizeof d) == 0);
}

static void test_parse_good(void) {
    zc_profile p;
    memset(&p, 0, sizeof p);
    strcpy(p.path, "kept");
    CHECK_RC(zc_profile_parse(good_lines, strlen(good_lines), &p), 0);
    CHECK_EQ(p.source, ZC_PROFILE_FILE);
    CHECK(strcmp(p.path, "kept") == 0);
    CHECK(strcmp(p.host, "0123456789abcdef") == 0);
    CHECK(strcmp(p.kernel, "6.1.0-test") == 0);
    CHECK_EQ(p.cpus, 4);
    CHECK(strcmp(p.created, "2026-01-02T03:04:05Z") == 0);
    CHECK(strcmp(p.measured, "by hand") == 0);
    CHECK_U64(p.params.value[ZC_PARAM_SMALL_COPY_MAX], 8192);
    CHECK_U64(p.params.value[ZC_PARAM_READ_WRITE_BUFFER], 65536);
    CHECK_U64(p.params.value[ZC_PARAM_COPY_FILE_RANGE_MAX], 1048576);
    CHECK_U64(p.params.value[ZC_PARAM_PIPE_SENDFILE_MAX], 0);
    CHECK_U64(p.params.value[ZC_PARAM_SOCKET_SENDFILE_MAX], ZC_PARAM_UNLIMITED);
    for (int i = ZC_PARAM_COUNT; i < ZC_PARAM_MAX; i++) CHECK_U64(p.params.value[i], 0);

    /* comments, blank lines, CRLF, blanks around values, any key order after the version */
    const char *loose =
        "# a comment\r\n\r\n   zerocopy-profile   1  \r\n"
        "socketSendfileMax 5\r\n\t# indented comment\n"
        "pipeSendfileMax max\ncopyFileRangeMax 7\nreadWriteBuffer 4096\nsmallCopyMax 0\n"
        "measured  free text, with: punctuation  \ncreated x\ncpus 1\nkernel k\nhost ffffffffffffffff";
    memset(&p, 0, sizeof p);
    CHECK_RC(zc_profile_parse(loose, strlen(loose), &p), 0);
    CHECK(strcmp(p.measured, "free text, with: punctuation") == 0);
    CHECK_U64(p.params.value[ZC_PARAM_SOCKET_SENDFILE_MAX], 5);
    CHECK_U64(p.params.value[ZC_PARAM_READ_WRITE_BUFFER], 4096);
    CHECK_U64(p.params.value[ZC_PARAM_SMALL_COPY_MAX], 0);
}

/* Replace the line starting with `key ` in good_lines by `line` (NULL: drop it). */
static const char *with_line(const char *key, const char *line) {
    static char out[2048];
    out[0] = '\0';
    const char *s = good_lines;
    size_t klen = strlen(key);
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) + 1 : strlen(s);
        if (strncmp(s, key, klen) == 0 && s[klen] == ' ') {
            if (line) {
                strcat(out, line);
                strcat(out, "\n");
            }
        } else {
            strncat(out, s, n);
        }
        s += n;
    }
    return out;
}

#define CHECK_PARSE_FAILS(text, len, rc, fragment)                                          \
    do {                                                                                    \
        zc_profile zt_p_;                                                                   \
        memset(&zt_p_, 0, sizeof zt_p_);                                                    \
        zt_p_.params.value[0] = 42;                                                         \
        CHECK_RC(zc_profile_parse((text), (len), &zt_p_), (rc));                            \
        if (strstr(zt_p_.note, (fragment)) == NULL)                                         \
            zt_fail(__FILE__, __LINE__, "note '%s' lacks '%s'", zt_p_.note, (fragment));    \
        CHECK_U64(zt_p_.params.value[0], 42); /* unchanged on failure */                    \
    } while (0)

#define CHECK_BAD(text, fragment) CHECK_PARSE_FAILS((text), strlen(text), -EINVAL, (fragment))

static void test_parse_bad(void) {
    CHECK_BAD("", "empty");
    CHECK_BAD("# only a comment\n\n", "empty");
    CHECK_BAD("hello world\n", "line 1: not a swift-zerocopy profile");
    CHECK_BAD("\n{\"json\": true}\n", "line 2: not a swift-zerocopy profile");
    CHECK_PARSE_FAILS("zerocopy-profile 2\nanything\n", 27, -EPROTO, "format version 2; this library reads version 1");
    CHECK_PARSE_FAILS("zerocopy-profile 0\n", 19, -EPROTO, "format version 0");
    CHECK_BAD("zerocopy-profile one\n", "bad format version 'one'");
    CHECK_BAD("zerocopy-profile\n", "bad format version");
    CHECK_BAD(with_line("kernel", "colour blue"), "line 3: unknown key 'colour'");
    CHECK_BAD(with_line("cpus", "cpus 4\ncpus 4"), "line 5: 'cpus' given twice");
    CHECK_BAD(with_line("smallCopyMax", "smallCopyMax 1\nsmallCopyMax 2"), "'smallCopyMax' given twice");
    CHECK_BAD(with_line("socketSendfileMax", NULL), "'socketSendfileMax' is missing");
    CHECK_BAD(with_line("host", NULL), "'host' is missing");
    CHECK_BAD(with_line("host", "host 0123"), "bad host '0123'");
    CHECK_BAD(with_line("host", "host 0123456789ABCDEF"), "bad host");
    CHECK_BAD(with_line("cpus", "cpus 0"), "bad cpus '0'");
    CHECK_BAD(with_line("cpus", "cpus -2"), "bad cpus");
    CHECK_BAD(with_line("cpus", "cpus 9999999"), "bad cpus");
    CHECK_BAD(with_line("kernel", "kernel"), "line 3: 'kernel' has no value");
    CHECK_BAD(with_line("smallCopyMax", "smallCopyMax 12x"), "bad smallCopyMax '12x' (a byte count, or max)");
    CHECK_BAD(with_line("smallCopyMax", "smallCopyMax -1"), "bad smallCopyMax");
    CHECK_BAD(with_line("smallCopyMax", "smallCopyMax 99999999999999999999"), "bad smallCopyMax");
    CHECK_BAD(with_line("smallCopyMax", "smallCopyMax 0x10"), "bad smallCopyMax");
    CHECK_BAD(with_line("readWriteBuffer", "readWriteBuffer max"), "bad readWriteBuffer 'max' (a byte count from 4096");
    CHECK_BAD(with_line("readWriteBuffer", "readWriteBuffer 100"), "bad readWriteBuffer '100'");
    CHECK_BAD(with_line("readWriteBuffer", "readWriteBuffer 134217728"), "bad readWriteBuffer");
    char ctl[] = "zerocopy-profile 1\nmeasured a\x01z\n";
    CHECK_BAD(ctl, "bad measured");
    /* a NUL byte, a line over 1024 bytes, text over the limit */
    char nul[] = "zerocopy-profile 1\nhost\0x\n";
    CHECK_PARSE_FAILS(nul, sizeof nul - 1, -EINVAL, "NUL byte");
    char *long_line = zt_malloc(3000);
    snprintf(long_line, 3000, "zerocopy-profile 1\nmeasured %02000d\n", 7);
    CHECK_BAD(long_line, "line 2: longer than 1024 bytes");
    free(long_line);
    char *huge = zt_malloc(ZC_PROFILE_MAX_BYTES + 2);
    memset(huge, '#', ZC_PROFILE_MAX_BYTES + 1);
    huge[ZC_PROFILE_MAX_BYTES + 1] = '\0';
    CHECK_PARSE_FAILS(huge, ZC_PROFILE_MAX_BYTES + 1, -EINVAL, "larger than 65536 bytes");
    free(huge);
    zc_profile p;
    CHECK_RC(zc_profile_parse(NULL, 0, &p), -EINVAL);
    CHECK_RC(zc_profile_parse("x", 1, NULL), -EFAULT);
}

static void test_format_round_trip(void) {
    zc_profile p;
    memset(&p, 0, sizeof p);
    CHECK_RC(zc_profile_identify(&p), 0);
    CHECK_EQ(strlen(p.host), 16);
    CHECK(p.cpus >= 1);
    CHECK_EQ(strlen(p.created), 20);
    CHECK_RC(zc_profile_check_host(&p, NULL, 0), 0);
    for (int i = 0; i < ZC_PARAM_COUNT; i++) p.params.value[i] = (uint64_t)(i + 1) << 12;
    p.params.value[ZC_PARAM_PIPE_SENDFILE_MAX] = ZC_PARAM_UNLIMITED;
    snprintf(p.measured, sizeof p.measured, "zc calibrate (test): ext4, tmpfs");
    char buf[2048];
    int n = zc_profile_format(&p, buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK_EQ((size_t)n, strlen(buf));
    CHECK(strstr(buf, "zerocopy-profile 1\n") != NULL);
    CHECK(strstr(buf, "pipeSendfileMax max\n") != NULL);
    CHECK(strchr(buf, '"') == NULL && strchr(buf, '\\') == NULL); /* mk/builtin-profile.sh can embed it */
    zc_profile q;
    memset(&q, 0, sizeof q);
    CHECK_RC(zc_profile_parse(buf, (size_t)n, &q), 0);
    CHECK(memcmp(&p.params, &q.params, sizeof p.params) == 0);
    CHECK(strcmp(p.host, q.host) == 0 && strcmp(p.kernel, q.kernel) == 0 && p.cpus == q.cpus);
    CHECK(strcmp(p.created, q.created) == 0 && strcmp(p.measured, q.measured) == 0);
    /* too small a buffer, a newline in a field, values the parser would refuse */
    CHECK_RC(zc_profile_format(&p, buf, 40), -ENOSPC);
    CHECK_RC(zc_profile_format(&p, buf, (size_t)n), -ENOSPC);
    CHECK(zc_profile_format(&p, buf, (size_t)n + 1) == n);
    zc_profile bad = p;
    strcpy(bad.measured, "two\nlines");
    CHECK_RC(zc_profile_format(&bad, buf, sizeof buf), -EINVAL);
    bad = p;
    bad.params.value[ZC_PARAM_READ_WRITE_BUFFER] = 1;
    CHECK_RC(zc_profile_format(&bad, buf, sizeof buf), -EINVAL);
    bad = p;
    bad.params.value[ZC_PARAM_SMALL_COPY_MAX] = UINT64_MAX - 1;
    CHECK_RC(zc_profile_format(&bad, buf, sizeof buf), -EINVAL);
    /* an empty measured is written as "-" and reads back */
    bad = p;
    bad.measured[0] = '\0';
    n = zc_profile_format(&bad, buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK_RC(zc_profile_parse(buf, (size_t)n, &q), 0);
    CHECK(strcmp(q.measured, "-") == 0);
}

/* Another machine, kernel or CPU count: stale, with the difference in the note. */
static void test_check_host(void) {
    zc_profile p;
    memset(&p, 0, sizeof p);
    REQUIRE(zc_profile_identify(&p) == 0);
    char note[300];
    zc_profile q = p;
    q.host[0] = q.host[0] == 'a' ? 'b' : 'a';
    CHECK_RC(zc_profile_check_host(&q, note, sizeof note), -ESTALE);
    CHECK(strstr(note, "written on another machine") != NULL);
    q = p;
    strcat(q.kernel, "-old");
    CHECK_RC(zc_profile_check_host(&q, note, sizeof note), -ESTALE);
    CHECK(strstr(note, "calibrated on kernel") != NULL && strstr(note, "-old") != NULL);
    q = p;
    q.cpus = p.cpus + 1;
    CHECK_RC(zc_profile_check_host(&q, note, sizeof note), -ESTALE);
    CHECK(strstr(note, "CPUs online") != NULL);
}

#define CHECK_LOAD_REJECTED(file_, rc, fragment)                                             \
    do {                                                                                    \
        zc_profile zt_l_;                                                                   \
        memset(&zt_l_, 0x5A, sizeof zt_l_);                                                 \
        CHECK_RC(zc_profile_load((file_), &zt_l_), (rc));                                    \
        CHECK_EQ(zt_l_.source, ZC_PROFILE_REJECTED);                                        \
        CHECK(strcmp(zt_l_.path, (file_)) == 0);                                             \
        if (strstr(zt_l_.note, (fragment)) == NULL || strstr(zt_l_.note, (file_)) == NULL || \
            strstr(zt_l_.note, "the built-in table decides") == NULL)                       \
            zt_fail(__FILE__, __LINE__, "note '%s' lacks the path or '%s'", zt_l_.note, (fragment)); \
        zc_plan_params zt_d_;                                                               \
        zc_plan_params_default(&zt_d_);                                                     \
        CHECK(memcmp(&zt_d_, &zt_l_.params, sizeof zt_d_) == 0);                            \
    } while (0)

static void test_load(void) {
    make_scratch();
    char path[400], text[2048];
    zc_plan_params params;
    zc_plan_params_default(&params);
    params.value[ZC_PARAM_PIPE_SENDFILE_MAX] = 0;
    params.value[ZC_PARAM_SMALL_COPY_MAX] = 12345;

    snprintf(path, sizeof path, "%s/missing", scratch);
    CHECK_LOAD_REJECTED(path, -ENOENT, "cannot be opened: No such file or directory (ENOENT)");
    CHECK_LOAD_REJECTED(scratch, -EISDIR, "it is a directory");

    snprintf(path, sizeof path, "%s/fifo", scratch);
    SYS(mkfifo(path, 0600));
    CHECK_LOAD_REJECTED(path, -EINVAL, "not a regular file"); /* and did not block */

    snprintf(path, sizeof path, "%s/garbage", scratch);
    write_file(path, "\x7f" "ELF\x02\x01\x01", 7);
    CHECK_LOAD_REJECTED(path, -EINVAL, "line 1: not a swift-zerocopy profile");

    snprintf(path, sizeof path, "%s/v2", scratch);
    write_file(path, "zerocopy-profile 2\nfuture 1\n", 28);
    CHECK_LOAD_REJECTED(path, -EPROTO, "format version 2");

    snprintf(path, sizeof path, "%s/other-machine", scratch);
    write_file(path, good_lines, strlen(good_lines));
    CHECK_LOAD_REJECTED(path, -ESTALE, "written on another machine");

    snprintf(path, sizeof path, "%s/big", scratch);
    char *big = zt_malloc(ZC_PROFILE_MAX_BYTES + 10);
    memset(big, '#', ZC_PROFILE_MAX_BYTES + 10);
    write_file(path, big, ZC_PROFILE_MAX_BYTES + 10);
    free(big);
    CHECK_LOAD_REJECTED(path, -EFBIG, "larger than 65536 bytes");

    if (!zt_is_root()) {
        snprintf(path, sizeof path, "%s/unreadable", scratch);
        int n = host_profile_text(&params, text, sizeof text);
        REQUIRE(n > 0);
        write_file(path, text, (size_t)n);
        SYS(chmod(path, 0));
        CHECK_LOAD_REJECTED(path, -EACCES, "Permission denied (EACCES)");
    } else {
        zt_note("root reads mode-000 files: the EACCES case runs in test-unprivileged");
    }

    snprintf(path, sizeof path, "%s/good", scratch);
    int n = host_profile_text(&params, text, sizeof text);
    REQUIRE(n > 0);
    write_file(path, text, (size_t)n);
    zc_profile p;
    memset(&p, 0x5A, sizeof p);
    CHECK_RC(zc_profile_load(path, &p), 0);
    CHECK_EQ(p.source, ZC_PROFILE_FILE);
    CHECK(strcmp(p.path, path) == 0);
    CHECK(p.note[0] == '\0');
    CHECK(memcmp(&p.params, &params, sizeof params) == 0);
    CHECK(strcmp(p.measured, "test_profile") == 0);

    CHECK_RC(zc_profile_load(NULL, &p), -EINVAL);
    CHECK_EQ(p.source, ZC_PROFILE_REJECTED);
    CHECK_RC(zc_profile_load(path, NULL), -EFAULT);
    remove_scratch();
}

/* Runs in a child: environment changes stay there. */
static int locate_child(void *arg) {
    (void)arg;
    char buf[4096];
    unsetenv(ZC_PROFILE_ENV);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == 0 && strcmp(buf, "/xdg/swift-zerocopy/profile") == 0);
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == 0 &&
                strcmp(buf, "/home/u/.cache/swift-zerocopy/profile") == 0);
    setenv("XDG_CACHE_HOME", "", 1);
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == 0 &&
                strcmp(buf, "/home/u/.cache/swift-zerocopy/profile") == 0);
    CHILD_CHECK(zc_profile_default_path(buf, 10) == -ENAMETOOLONG && buf[0] == '\0');
    unsetenv("HOME");
    unsetenv("XDG_CACHE_HOME");
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == -ENOENT);
    setenv(ZC_PROFILE_ENV, "/etc/zc.profile", 1);
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == 0 && strcmp(buf, "/etc/zc.profile") == 0);
    setenv(ZC_PROFILE_ENV, "builtin", 1);
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == 1 && buf[0] == '\0');
    setenv(ZC_PROFILE_ENV, "", 1); /* empty = unset */
    CHILD_CHECK(zc_profile_default_path(buf, sizeof buf) == -ENOENT);
    CHILD_CHECK(zc_profile_default_path(NULL, 1) == -EINVAL);
    return 0;
}

static void test_default_path(void) { CHECK_EXITED(zt_fork_run(locate_child, NULL, 10), 0); }

/* Runs in a child: zc_profile_load_host, zc_profile_host and zc_transfer with NULL params. */
static int host_child(void *arg) {
    (void)arg;
    char home[600], path[700], text[2048];
    snprintf(home, sizeof home, "%s/home", scratch);
    CHILD_CHECK(mkdir(home, 0700) == 0);
    unsetenv(ZC_PROFILE_ENV);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", home, 1);
    /* no profile yet: the built-in table, no note, the path where one would be */
    zc_profile p;
    CHILD_CHECK(zc_profile_load_host(&p) == 0);
    snprintf(path, sizeof path, "%s/.cache/swift-zerocopy/profile", home);
    CHILD_CHECK(p.source == ZC_PROFILE_BUILTIN && p.note[0] == '\0' && strcmp(p.path, path) == 0);
    /* ZEROCOPY_PROFILE naming a missing file: rejected, with a note */
    setenv(ZC_PROFILE_ENV, "/nonexistent/zc.profile", 1);
    CHILD_CHECK(zc_profile_load_host(&p) == 0);
    CHILD_CHECK(p.source == ZC_PROFILE_REJECTED && strstr(p.note, "/nonexistent/zc.profile") != NULL);
    setenv(ZC_PROFILE_ENV, "builtin", 1);
    CHILD_CHECK(zc_profile_load_host(&p) == 0 && p.source == ZC_PROFILE_BUILTIN && p.path[0] == '\0');
    /* a profile in the cache directory, read by zc_transfer: file -> pipe by splice */
    unsetenv(ZC_PROFILE_ENV);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/.cache", home);
    CHILD_CHECK(mkdir(dir, 0700) == 0);
    snprintf(dir, sizeof dir, "%s/.cache/swift-zerocopy", home);
    CHILD_CHECK(mkdir(dir, 0700) == 0);
    zc_plan_params params;
    zc_plan_params_default(&params);
    params.value[ZC_PARAM_PIPE_SENDFILE_MAX] = 0;
    int n = host_profile_text(&params, text, sizeof text);
    CHILD_CHECK(n > 0);
    write_file(path, text, (size_t)n);
    const zc_profile *host = zc_profile_host();
    CHILD_CHECK(host == zc_profile_host() && host->source == ZC_PROFILE_FILE && strcmp(host->path, path) == 0);
    CHILD_CHECK(host->params.value[ZC_PARAM_PIPE_SENDFILE_MAX] == 0);
    unsigned char *data = zt_data(5000, 3);
    int in = zt_file_with(data, 5000);
    int pp[2];
    CHILD_CHECK(zc_pipe(pp, 0) == 0 && zc_pipe_set_capacity(pp[1], 1 << 20) > 0);
    zc_transfer_report r;
    CHILD_CHECK(zc_transfer(in, NULL, pp[1], NULL, ZC_UNTIL_EOF, NULL, &r) == ZC_DONE);
    CHILD_CHECK(r.bytes == 5000 && r.method == ZC_METHOD_SPLICE);
    /* explicit parameters still win */
    zc_plan_params explicit_params;
    zc_plan_params_default(&explicit_params);
    explicit_params.value[ZC_PARAM_PIPE_SENDFILE_MAX] = ZC_PARAM_UNLIMITED;
    int64_t off = 0;
    CHILD_CHECK(zc_transfer(in, &off, pp[1], NULL, ZC_UNTIL_EOF, &explicit_params, &r) == ZC_DONE);
    CHILD_CHECK(r.bytes == 5000 && r.method == ZC_METHOD_SENDFILE);
    /* a profile rewritten meanwhile is read by the next process, not this one */
    write_file(path, "garbage", 7);
    CHILD_CHECK(zc_profile_host()->source == ZC_PROFILE_FILE);
    CHILD_CHECK(zc_profile_load_host(&p) == 0 && p.source == ZC_PROFILE_REJECTED);
    close(in);
    close(pp[0]);
    close(pp[1]);
    free(data);
    return 0;
}

/* A garbage profile: zc_transfer runs on the built-in table. */
static int garbage_child(void *arg) {
    const char *path = arg;
    setenv(ZC_PROFILE_ENV, path, 1);
    const zc_profile *host = zc_profile_host();
    CHILD_CHECK(host->source == ZC_PROFILE_REJECTED && strstr(host->note, "not a swift-zerocopy profile") != NULL);
    unsigned char *data = zt_data(5000, 4);
    int in = zt_file_with(data, 5000);
    int pp[2];
    CHILD_CHECK(zc_pipe(pp, 0) == 0 && zc_pipe_set_capacity(pp[1], 1 << 20) > 0);
    zc_transfer_report r;
    CHILD_CHECK(zc_transfer(in, NULL, pp[1], NULL, ZC_UNTIL_EOF, NULL, &r) == ZC_DONE);
    uint8_t builtin[ZC_PLAN_MAX]; /* the built-in table's first method for file -> pipe */
    CHILD_CHECK(zc_plan(NULL, ZC_KIND_FILE, ZC_KIND_PIPE, 0, 5000, builtin) > 0);
    CHILD_CHECK(r.bytes == 5000 && r.method == builtin[0]);
    close(in);
    close(pp[0]);
    close(pp[1]);
    free(data);
    return 0;
}

static void test_host(void) {
    make_scratch();
    CHECK_EXITED(zt_fork_run(host_child, NULL, 20), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/garbage", scratch);
    const char garbage[] = "PK\x03\x04 not a profile";
    write_file(path, garbage, sizeof garbage - 1);
    CHECK_EXITED(zt_fork_run(garbage_child, path, 20), 0);
    remove_scratch();
}

int main(void) {
    ZT_RUN(test_builtin);
    ZT_RUN(test_parse_good);
    ZT_RUN(test_parse_bad);
    ZT_RUN(test_format_round_trip);
    ZT_RUN(test_check_host);
    ZT_RUN(test_load);
    ZT_RUN(test_default_path);
    ZT_RUN(test_host);
    return zt_finish();
}
