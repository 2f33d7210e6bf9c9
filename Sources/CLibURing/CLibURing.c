/* CLibURing has no code of its own (liburing and zerocopy_uring.h are inline or linked):
 * SwiftPM builds a C target only from at least one source file, and this is it. */
#include "CLibURing.h"

/* A translation unit must declare something under ISO C. */
typedef int zc_cliburing_translation_unit;
