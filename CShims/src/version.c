#define _GNU_SOURCE
#include "zc_internal.h"

#define ZC_STR2(x) #x
#define ZC_STR(x) ZC_STR2(x)

const char *zc_version(void) {
    return ZC_STR(ZC_VERSION_MAJOR) "." ZC_STR(ZC_VERSION_MINOR) "." ZC_STR(ZC_VERSION_PATCH);
}
