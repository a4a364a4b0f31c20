// Warden's own stand-in for the `khash.h` that libh2o 2.2's <h2o/http2_internal.h> includes and Debian's
// libh2o-dev does not ship. It declares only what that header and warden_h2o.c use:
//   - a connection's stream table type (`KHASH_MAP_INIT_INT64`), laid out as libh2o 2.2.5 built it
//     (klib's open-addressing table: bucket count, size, occupied, upper bound, a 2-bit-per-bucket flag
//     array — bit 1 "empty", bit 0 "deleted" — then the key and value arrays);
//   - read-only lookup (`kh_get`: the same hash of the 64-bit key and the same probe sequence libh2o's
//     inserts use, so `h2o_http2_conn_get_stream` finds a stream) and iteration over the live buckets
//     (`kh_foreach_value`).
// Warden never inserts or deletes: libh2o owns the table.
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
    } kh_##name##_t;                                                                                           \
    static inline khint_t kh_get_##name(const kh_##name##_t *table, khint64_t key) {                           \
        if (table->n_buckets == 0) return 0;                                                                   \
        khint_t mask = table->n_buckets - 1, step = 0;                                                         \
        khint_t i = warden_kh_hash64(key) & mask, first = i;                                                   \
        while (!warden_kh_empty(table, i) && (warden_kh_deleted(table, i) || table->keys[i] != key)) {        \
            i = (i + (++step)) & mask;                                                                         \
            if (i == first) return table->n_buckets;                                                           \
        }                                                                                                      \
        return warden_kh_live(table, i) ? i : table->n_buckets;                                                \
    }

/// Bucket `i`'s two flag bits: 2 = empty, 1 = deleted, 0 = holds an entry.
#define warden_kh_flags(table, i) (((table)->flags[(i) >> 4] >> (((i) & 0xfU) << 1)) & 3)
#define warden_kh_empty(table, i) ((warden_kh_flags(table, i) & 2) != 0)
#define warden_kh_deleted(table, i) ((warden_kh_flags(table, i) & 1) != 0)
#define warden_kh_live(table, i) (warden_kh_flags(table, i) == 0)
/// klib's hash of a 64-bit integer key, which libh2o's table was built with.
static inline khint_t warden_kh_hash64(khint64_t key) { return (khint32_t)(key >> 33 ^ key ^ key << 11); }

#define kh_end(table) ((table)->n_buckets)
#define kh_val(table, i) ((table)->vals[i])
#define kh_get(name, table, key) kh_get_##name(table, key)

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
