#define _GNU_SOURCE
#include "warden_grpc.h"
#include <pthread.h>
#include <string.h>
#include <grpc/byte_buffer_reader.h>

size_t warden_grpc_byte_buffer_copy(grpc_byte_buffer *buffer, uint8_t *destination, size_t capacity) {
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buffer)) {
        return SIZE_MAX;
    }
    size_t copied = 0;
    grpc_slice slice;
    while (grpc_byte_buffer_reader_next(&reader, &slice)) {
        size_t length = GRPC_SLICE_LENGTH(slice);
        if (length > capacity - copied) {
            length = capacity - copied;
        }
        if (length > 0) {
            memcpy(destination + copied, GRPC_SLICE_START_PTR(slice), length);
            copied += length;
        }
        grpc_slice_unref(slice);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    return copied;
}

grpc_byte_buffer *warden_grpc_byte_buffer_from_copy(const uint8_t *bytes, size_t length) {
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)bytes, length);
    grpc_byte_buffer *buffer = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return buffer;
}

void warden_grpc_name_current_thread(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = '\0';
    pthread_setname_np(pthread_self(), truncated);
}
