/* Host profiles: the decision table's parameters measured on this machine by
 * `zc calibrate`, in a versioned text file that C's zc_transfer and Swift's `.automatic`
 * both read through zc_profile_host(). The built-in table is itself a profile
 * (plan_builtin.h, generated from Docs/bench/profile/builtin.profile), read by the same
 * parser. The format is documented in zerocopy.h and Docs/Transfer.md. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "plan_builtin.h"

#define ZCI_LINE_MAX 1024

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */
/* ------------------------------------------------------------------------- */

/* strlcpy's contract: copy what fits, always NUL-terminate; returns strlen(src). */
static size_t zci_copy(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (cap > 0) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

/* "No such file or directory (ENOENT)" for a positive or negative errno. */
static void zci_errtext(int err, char *buf, size_t cap) {
    if (err < 0) err = -err;
    const char *desc = strerrordesc_np(err);
    const char *name = strerrorname_np(err);
    snprintf(buf, cap, "%s (%s)", desc ? desc : "unknown error", name ? name : "?");
}

/* ------------------------------------------------------------------------- */
/* Parsing                                                                    */
/* ------------------------------------------------------------------------- */

enum { KEY_HOST, KEY_KERNEL, KEY_CPUS, KEY_CREATED, KEY_MEASURED, KEY_FIELDS };
static const char *const zci_field_names[KEY_FIELDS] = {"host", "kernel", "cpus", "created", "measured"};

/* A parameter's value: a decimal byte count or "max". Returns 0 or -1. */
static int zci_parse_param(int index, const char *v, uint64_t *out) {
    if (strcmp(v, "max") == 0) {
        if (index == ZC_PARAM_READ_WRITE_BUFFER) return -1;
        *out = ZC_PARAM_UNLIMITED;
        return 0;
    }
    if (*v == '\0' || strlen(v) > 19) return -1;
    uint64_t x = 0;
    for (const char *c = v; *c; c++) {
        if (*c < '0' || *c > '9') return -1;
        x = x * 10 + (uint64_t)(*c - '0');
    }
    if (index == ZC_PARAM_READ_WRITE_BUFFER && (x < 4096 || x > (64u << 20))) return -1;
    if (x > (UINT64_C(1) << 62)) return -1;
    *out = x;
    return 0;
}

static int zci_is_hex16(const char *v) {
    if (strlen(v) != 16) return 0;
    for (const char *c = v; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return 0;
    return 1;
}

/* Printable ASCII or UTF-8 continuation bytes, no control characters. */
static int zci_is_text(const char *v) {
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20 || *c == 0x7f) return 0;
    return 1;
}

static int zci_field(zc_profile *p, int key, const char *v) {
    switch (key) {
    case KEY_HOST:
        if (!zci_is_hex16(v)) return -1;
        zci_copy(p->host, sizeof p->host, v);
        return 0;
    case KEY_KERNEL:
        if (strlen(v) >= sizeof p->kernel || strpbrk(v, " \t") || !zci_is_text(v)) return -1;
        zci_copy(p->kernel, sizeof p->kernel, v);
        return 0;
    case KEY_CPUS: {
        if (strlen(v) > 6) return -1;
        int n = 0;
        for (const char *c = v; *c; c++) {
            if (*c < '0' || *c > '9') return -1;
            n = n * 10 + (*c - '0');
        }
        if (n < 1 || n > 65536) return -1;
        p->cpus = n;
        return 0;
    }
    case KEY_CREATED:
        if (strlen(v) >= sizeof p->created || strpbrk(v, " \t") || !zci_is_text(v)) return -1;
        zci_copy(p->created, sizeof p->created, v);
        return 0;
    case KEY_MEASURED:
        if (strlen(v) >= sizeof p->measured || !zci_is_text(v)) return -1;
        zci_copy(p->measured, sizeof p->measured, v);
        return 0;
    default: return -1;
    }
}

int zc_profile_parse(const char *text, size_t len, zc_profile *out) {
    if (out == NULL) return -EFAULT;
    char *note = out->note;
    const size_t note_cap = sizeof out->note;
    if (text == NULL) {
        zci_copy(note, note_cap, "no text");
        return -EINVAL;
    }
    if (len > ZC_PROFILE_MAX_BYTES) {
        snprintf(note, note_cap, "larger than %d bytes", ZC_PROFILE_MAX_BYTES);
        return -EINVAL;
    }
    if (memchr(text, '\0', len) != NULL) {
        zci_copy(note, note_cap, "holds a NUL byte: not a text profile");
        return -EINVAL;
    }
    zc_profile p;
    memset(&p, 0, sizeof p);
    int seen_version = 0;
    unsigned seen_fields = 0, seen_params = 0;
    size_t pos = 0;
    int line_no = 0;
    char line[ZCI_LINE_MAX + 1];
    while (pos < len) {
        line_no++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > ZCI_LINE_MAX) {
            snprintf(note, note_cap, "line %d: longer than %d bytes", line_no, ZCI_LINE_MAX);
            return -EINVAL;
        }
        memcpy(line, start, n);
        line[n] = '\0';
        /* trim: CR and blanks at the end, blanks at the start */
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) line[--n] = '\0';
        char *key = line;
        while (*key == ' ' || *key == '\t') key++;
        if (*key == '\0' || *key == '#') continue;
        char *value = key + strcspn(key, " \t");
        if (*value != '\0') {
            *value++ = '\0';
            while (*value == ' ' || *value == '\t') value++;
        }
        if (!seen_version) {
            if (strcmp(key, "zerocopy-profile") != 0) {
                snprintf(note, note_cap, "line %d: not a swift-zerocopy profile (its first line must be \"zerocopy-profile %d\")",
                         line_no, ZC_PROFILE_VERSION);
                return -EINVAL;
            }
            char *end = NULL;
            errno = 0;
            long version = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || errno != 0 || version < 0) {
                snprintf(note, note_cap, "line %d: bad format version '%.40s'", line_no, value);
                return -EINVAL;
            }
            if (version != ZC_PROFILE_VERSION) {
                snprintf(note, note_cap, "format version %ld; this library reads version %d", version,
                         ZC_PROFILE_VERSION);
                return -EPROTO;
            }
            seen_version = 1;
            continue;
        }
        if (*value == '\0') {
            snprintf(note, note_cap, "line %d: '%.40s' has no value", line_no, key);
            return -EINVAL;
        }
        int found = 0;
        for (int f = 0; f < KEY_FIELDS && !found; f++) {
            if (strcmp(key, zci_field_names[f]) != 0) continue;
            found = 1;
            if (seen_fields & (1u << f)) {
                snprintf(note, note_cap, "line %d: '%.40s' given twice", line_no, key);
                return -EINVAL;
            }
            if (zci_field(&p, f, value) != 0) {
                snprintf(note, note_cap, "line %d: bad %.40s '%.60s'", line_no, key, value);
                return -EINVAL;
            }
            seen_fields |= 1u << f;
        }
        for (int i = 0; i < ZC_PARAM_COUNT && !found; i++) {
            if (strcmp(key, zc_plan_param_name(i)) != 0) continue;
            found = 1;
            if (seen_params & (1u << i)) {
                snprintf(note, note_cap, "line %d: '%.40s' given twice", line_no, key);
                return -EINVAL;
            }
            if (zci_parse_param(i, value, &p.params.value[i]) != 0) {
                snprintf(note, note_cap,
                         i == ZC_PARAM_READ_WRITE_BUFFER
                             ? "line %d: bad %.40s '%.40s' (a byte count from 4096 to 67108864)"
                             : "line %d: bad %.40s '%.40s' (a byte count, or max)",
                         line_no, key, value);
                return -EINVAL;
            }
            seen_params |= 1u << i;
        }
        if (!found) {
            snprintf(note, note_cap, "line %d: unknown key '%.40s'", line_no, key);
            return -EINVAL;
        }
    }
    if (!seen_version) {
        snprintf(note, note_cap, "empty: no \"zerocopy-profile %d\" line", ZC_PROFILE_VERSION);
        return -EINVAL;
    }
    for (int f = 0; f < KEY_FIELDS; f++)
        if (!(seen_fields & (1u << f))) {
            snprintf(note, note_cap, "'%s' is missing", zci_field_names[f]);
            return -EINVAL;
        }
    for (int i = 0; i < ZC_PARAM_COUNT; i++)
        if (!(seen_params & (1u << i))) {
            snprintf(note, note_cap, "'%s' is missing", zc_plan_param_name(i));
            return -EINVAL;
        }
    out->params = p.params;
    out->source = ZC_PROFILE_FILE;
    out->note[0] = '\0';
    memcpy(out->host, p.host, sizeof out->host);
    memcpy(out->kernel, p.kernel, sizeof out->kernel);
    out->cpus = p.cpus;
    memcpy(out->created, p.created, sizeof out->created);
    memcpy(out->measured, p.measured, sizeof out->measured);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* The built-in table                                                         */
/* ------------------------------------------------------------------------- */

static zc_profile zci_builtin;
static pthread_once_t zci_builtin_once = PTHREAD_ONCE_INIT;

static void zci_builtin_init(void) {
    static const char text[] = ZCI_BUILTIN_PROFILE_TEXT;
    if (zc_profile_parse(text, sizeof text - 1, &zci_builtin) != 0) {
        /* Unreachable in a tested build (test_profile parses the compiled-in text): the
         * table of the first release, so that a broken header cannot break transfers. */
        char why[sizeof zci_builtin.note];
        zci_copy(why, sizeof why, zci_builtin.note);
        memset(&zci_builtin, 0, sizeof zci_builtin);
        zci_builtin.params.value[ZC_PARAM_SMALL_COPY_MAX] = 16u << 10;
        zci_builtin.params.value[ZC_PARAM_READ_WRITE_BUFFER] = 128u << 10;
        zci_builtin.params.value[ZC_PARAM_COPY_FILE_RANGE_MAX] = ZC_PARAM_UNLIMITED;
        zci_builtin.params.value[ZC_PARAM_PIPE_SENDFILE_MAX] = 0;
        zci_builtin.params.value[ZC_PARAM_SOCKET_SENDFILE_MAX] = ZC_PARAM_UNLIMITED;
        snprintf(zci_builtin.measured, sizeof zci_builtin.measured, "fallback constants: %.200s", why);
    }
    zci_builtin.source = ZC_PROFILE_BUILTIN;
    zci_builtin.path[0] = '\0';
    zci_builtin.note[0] = '\0';
}

const zc_profile *zci_builtin_profile(void) {
    pthread_once(&zci_builtin_once, zci_builtin_init);
    return &zci_builtin;
}

void zc_profile_builtin(zc_profile *out) {
    if (out != NULL) *out = *zci_builtin_profile();
}

/* ------------------------------------------------------------------------- */
/* This host                                                                  */
/* ------------------------------------------------------------------------- */

/* The first line of a small file, trimmed, into buf; 0 or -1. */
static int zci_first_line(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    ssize_t n;
    do { n = read(fd, buf, cap - 1); } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] ? 0 : -1;
}

/* FNV-1a, 64 bits, of "swift-zerocopy:" + id: an application-specific hash, so that a
 * published profile does not publish the machine id (machine-id(5)). */
static void zci_host_hash(const char *id, char out[17]) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const char *parts[2] = {"swift-zerocopy:", id};
    for (int i = 0; i < 2; i++)
        for (const unsigned char *c = (const unsigned char *)parts[i]; *c; c++) {
            h ^= *c;
            h *= UINT64_C(0x100000001b3);
        }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int zc_profile_identify(zc_profile *out) {
    if (out == NULL) return -EFAULT;
    char id[256];
    if (zci_first_line("/etc/machine-id", id, sizeof id) != 0 &&
        zci_first_line("/var/lib/dbus/machine-id", id, sizeof id) != 0) {
        char name[200];
        if (gethostname(name, sizeof name) != 0) name[0] = '\0';
        name[sizeof name - 1] = '\0';
        snprintf(id, sizeof id, "hostname:%s", name);
    }
    zci_host_hash(id, out->host);
    struct utsname u;
    if (uname(&u) != 0) return -errno;
    zci_copy(out->kernel, sizeof out->kernel, u.release);
    for (char *c = out->kernel; *c; c++)
        if (*c == ' ' || *c == '\t' || (unsigned char)*c < 0x20) *c = '_';
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->cpus = cpus > 0 && cpus <= 65536 ? (int)cpus : 1;
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(out->created, sizeof out->created, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        zci_copy(out->created, sizeof out->created, "unknown");
    return 0;
}

int zc_profile_check_host(const zc_profile *profile, char *note, size_t note_len) {
    if (profile == NULL) return -EFAULT;
    zc_profile here;
    memset(&here, 0, sizeof here);
    int rc = zc_profile_identify(&here);
    if (rc < 0) {
        if (note) snprintf(note, note_len, "this host cannot be identified (uname failed)");
        return -ESTALE;
    }
    if (strcmp(profile->host, here.host) != 0) {
        if (note) snprintf(note, note_len, "written on another machine (host %s; this one is %s)", profile->host, here.host);
        return -ESTALE;
    }
    if (strcmp(profile->kernel, here.kernel) != 0) {
        if (note) snprintf(note, note_len, "calibrated on kernel %s; this is %s", profile->kernel, here.kernel);
        return -ESTALE;
    }
    if (profile->cpus != here.cpus) {
        if (note)
            snprintf(note, note_len, "calibrated with %d CPUs online; %d are now", profile->cpus, here.cpus);
        return -ESTALE;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Files                                                                      */
/* ------------------------------------------------------------------------- */

/* out becomes the built-in table, rejected for `why` (the path is already set). */
static int zci_reject(zc_profile *out, int rc, const char *why) {
    char path[sizeof out->path];
    zci_copy(path, sizeof path, out->path);
    zc_profile_builtin(out);
    zci_copy(out->path, sizeof out->path, path);
    out->source = ZC_PROFILE_REJECTED;
    snprintf(out->note, sizeof out->note, "profile %.300s not used: %s; the built-in table decides", path, why);
    return rc;
}

int zc_profile_load(const char *path, zc_profile *out) {
    if (out == NULL) return -EFAULT;
    zc_profile_builtin(out);
    if (path == NULL || path[0] == '\0') {
        out->source = ZC_PROFILE_REJECTED;
        zci_copy(out->note, sizeof out->note, "profile not used: no path; the built-in table decides");
        return -EINVAL;
    }
    if (zci_copy(out->path, sizeof out->path, path) >= sizeof out->path)
        return zci_reject(out, -ENAMETOOLONG, "its path is too long");
    char why[400];
    /* O_NONBLOCK: a FIFO put in its place must not block the transfer that reads it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        char text[120];
        zci_errtext(e, text, sizeof text);
        snprintf(why, sizeof why, "cannot be opened: %s", text);
        return zci_reject(out, -e, why);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        char text[120];
        zci_errtext(e, text, sizeof text);
        snprintf(why, sizeof why, "cannot be read: %s", text);
        return zci_reject(out, -e, why);
    }
    if (!S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        return zci_reject(out, -e, e == EISDIR ? "it is a directory" : "not a regular file");
    }
    if (st.st_size > ZC_PROFILE_MAX_BYTES) {
        close(fd);
        snprintf(why, sizeof why, "larger than %d bytes", ZC_PROFILE_MAX_BYTES);
        return zci_reject(out, -EFBIG, why);
    }
    char *buf = malloc(ZC_PROFILE_MAX_BYTES + 1);
    if (buf == NULL) {
        close(fd);
        return zci_reject(out, -ENOMEM, "out of memory");
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, ZC_PROFILE_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            char text[120];
            zci_errtext(e, text, sizeof text);
            snprintf(why, sizeof why, "cannot be read: %s", text);
            return zci_reject(out, -e, why);
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > ZC_PROFILE_MAX_BYTES) {
            free(buf);
            close(fd);
            snprintf(why, sizeof why, "larger than %d bytes", ZC_PROFILE_MAX_BYTES);
            return zci_reject(out, -EFBIG, why);
        }
    }
    close(fd);
    zc_profile parsed;
    memset(&parsed, 0, sizeof parsed);
    int rc = zc_profile_parse(buf, len, &parsed);
    free(buf);
    if (rc < 0) {
        snprintf(why, sizeof why, "%s", parsed.note);
        return zci_reject(out, rc, why);
    }
    char stale[300];
    rc = zc_profile_check_host(&parsed, stale, sizeof stale);
    if (rc < 0) {
        snprintf(why, sizeof why, "%s: run `zc calibrate` again", stale);
        return zci_reject(out, rc, why);
    }
    zci_copy(parsed.path, sizeof parsed.path, out->path);
    parsed.source = ZC_PROFILE_FILE;
    parsed.note[0] = '\0';
    *out = parsed;
    return 0;
}

int zc_profile_default_path(char *buf, size_t len) {
    if (buf == NULL || len == 0) return -EINVAL;
    buf[0] = '\0';
    const char *env = secure_getenv(ZC_PROFILE_ENV);
    if (env != NULL && env[0] != '\0') {
        if (strcmp(env, "builtin") == 0) return 1;
        if (zci_copy(buf, len, env) >= len) {
            buf[0] = '\0';
            return -ENAMETOOLONG;
        }
        return 0;
    }
    const char *xdg = secure_getenv("XDG_CACHE_HOME");
    const char *home = secure_getenv("HOME");
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, len, "%s/swift-zerocopy/profile", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(buf, len, "%s/.cache/swift-zerocopy/profile", home);
    else
        return -ENOENT;
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return -ENAMETOOLONG;
    }
    return 0;
}

int zc_profile_load_host(zc_profile *out) {
    if (out == NULL) return -EFAULT;
    char path[sizeof out->path];
    int where = zc_profile_default_path(path, sizeof path);
    const char *env = secure_getenv(ZC_PROFILE_ENV);
    int named = env != NULL && env[0] != '\0';
    if (where != 0) {
        zc_profile_builtin(out);
        if (where == -ENAMETOOLONG) {
            out->source = ZC_PROFILE_REJECTED;
            snprintf(out->note, sizeof out->note, "profile not used: %s is too long; the built-in table decides",
                     named ? ZC_PROFILE_ENV : "its path");
        }
        return 0;
    }
    int rc = zc_profile_load(path, out);
    if (rc == -ENOENT && !named) {
        /* No profile yet: the ordinary case, not a rejection. */
        zc_profile_builtin(out);
        zci_copy(out->path, sizeof out->path, path);
    }
    return 0;
}

static zc_profile zci_host;
static pthread_once_t zci_host_once = PTHREAD_ONCE_INIT;

static void zci_host_init(void) { (void)zc_profile_load_host(&zci_host); }

const zc_profile *zc_profile_host(void) {
    pthread_once(&zci_host_once, zci_host_init);
    return &zci_host;
}

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */
/* ------------------------------------------------------------------------- */

int zc_profile_format(const zc_profile *profile, char *buf, size_t len) {
    if (profile == NULL || buf == NULL) return -EINVAL;
    const char *fields[] = {profile->host, profile->kernel, profile->created, profile->measured};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!zci_is_text(fields[i])) return -EINVAL;
    if (!zci_is_hex16(profile->host) || profile->kernel[0] == '\0' || strpbrk(profile->kernel, " \t") ||
        profile->created[0] == '\0' || strpbrk(profile->created, " \t") || profile->cpus < 1)
        return -EINVAL;
    for (int i = 0; i < ZC_PARAM_COUNT; i++) {
        uint64_t v = profile->params.value[i];
        if (i == ZC_PARAM_READ_WRITE_BUFFER ? (v < 4096 || v > (64u << 20))
                                            : (v != ZC_PARAM_UNLIMITED && v > (UINT64_C(1) << 62)))
            return -EINVAL;
    }
    size_t used = 0;
    int n = snprintf(buf, len,
                     "# swift-zerocopy host profile (Docs/Transfer.md, section Host profiles).\n"
                     "# Written by zc calibrate; ZEROCOPY_PROFILE=builtin makes programs ignore it.\n"
                     "zerocopy-profile %d\nhost %s\nkernel %s\ncpus %d\ncreated %s\nmeasured %s\n",
                     ZC_PROFILE_VERSION, profile->host, profile->kernel, profile->cpus, profile->created,
                     profile->measured[0] ? profile->measured : "-");
    if (n < 0 || (size_t)n >= len) return -ENOSPC;
    used = (size_t)n;
    for (int i = 0; i < ZC_PARAM_COUNT; i++) {
        uint64_t v = profile->params.value[i];
        if (v == ZC_PARAM_UNLIMITED)
            n = snprintf(buf + used, len - used, "%s max\n", zc_plan_param_name(i));
        else
            n = snprintf(buf + used, len - used, "%s %llu\n", zc_plan_param_name(i), (unsigned long long)v);
        if (n < 0 || (size_t)n >= len - used) return -ENOSPC;
        used += (size_t)n;
    }
    return (int)used;
}
