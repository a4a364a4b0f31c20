// Warden's own stand-in for the `khash.h` that libh2o 2.2's <h2o/http2_internal.h> includes and Debian's
// libh2o-dev does not ship. It declares only what that header and warden_h2o.c use:
//   - a connection's stream table type (`KHASH_MAP_INIT_INT64`), laid out as libh2o 2.2.5 built it
//     (klib's open-addressing table: bucket count, size, occupied, upper bound, a 2-bit-per-bucket flag
//     array — bit 1 "empty", bit 0 "deleted" — then the key and value arrays);
//   - read-only iteration over the live buckets (`kh_foreach_value`).
// Warden never inserts, deletes or looks up: `kh_get` (used only by a static inline function of
// http2_internal.h that Warden does not call) traps if it is ever reached.
#ifndef WARDEN_H2O_KHASH_H
#define WARDEN_H2O_KHASH_H

#include <stdint.h>

#if !defined(H2O_VERSION_MAJOR) || H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "this table layout is libh2o 2.2's; check it against the libh2o in use"
#endif

typedef uint32_t khint32_t;
typedef uint64_t khint64_t;
typedef khint32_t khint_t;
typedef khint_t khiter_t;

#define khash_t(name) kh_##name##_t

#define KHASH_MAP_INIT_INT64(name, value_type)                                                                   \
    typedef struct kh_##name##_s {                                                                             \
        khint_t n_buckets, size, n_occupied, upper_bound;                                                      \
        khint32_t *flags;                                                                                      \
        khint64_t *keys;                                                                                       \
        value_type *vals;                                                                                      \
    } kh_##name##_t;

/// Whether bucket `i` holds an entry (neither empty nor deleted).
#define warden_kh_live(table, i) ((((table)->flags[(i) >> 4] >> (((i) & 0xfU) << 1)) & 3) == 0)

#define kh_end(table) ((table)->n_buckets)
#define kh_val(table, i) ((table)->vals[i])
#define kh_get(name, table, key) ((void)(table), (void)(key), __builtin_trap(), (khiter_t)0)

/// Runs `code` with `value` set to each live entry's value.
#define kh_foreach_value(table, value, code)                                                                    \
    do {                                                                                                       \
        for (khint_t warden_kh_i = 0; warden_kh_i != kh_end(table); ++warden_kh_i) {                           \
            if (!warden_kh_live(table, warden_kh_i)) continue;                                                 \
            (value) = kh_val(table, warden_kh_i);                                                              \
            code;                                                                                              \
        }                                                                                                      \
    } while (0)

#endif
