#ifndef WARDEN_CURL_H
#define WARDEN_CURL_H
// Typed wrappers for libcurl's variadic curl_easy_setopt / curl_easy_getinfo, which Swift cannot call.
#include <curl/curl.h>
#include <stddef.h>

/// Signature shared by CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
typedef size_t (*warden_curl_data_cb)(char *data, size_t size, size_t nmemb, void *userdata);

static inline CURLcode warden_curl_setopt_long(CURL *h, CURLoption opt, long value) {
    return curl_easy_setopt(h, opt, value);
}
static inline CURLcode warden_curl_setopt_string(CURL *h, CURLoption opt, const char *value) {
    return curl_easy_setopt(h, opt, value);
}
static inline CURLcode warden_curl_setopt_pointer(CURL *h, CURLoption opt, void *value) {
    return curl_easy_setopt(h, opt, value);
}
static inline CURLcode warden_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value) {
    return curl_easy_setopt(h, opt, value);
}
static inline CURLcode warden_curl_setopt_callback(CURL *h, CURLoption opt, warden_curl_data_cb cb) {
    return curl_easy_setopt(h, opt, cb);
}
static inline CURLcode warden_curl_getinfo_long(CURL *h, CURLINFO info, long *out) {
    return curl_easy_getinfo(h, info, out);
}
#endif
