internal import CCurl
internal import CWardenShims

/// libcurl is initialised once per process, before the first handle (curl_global_init is not thread-safe;
/// `SpanExporter` makes its poster at start-up, on the main thread).
private let curlGlobalInit: UInt32 = curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue

/// OTLP/HTTP over libcurl: one easy handle per batch (a batch a second at most, so no pool), http/https
/// only, no redirects, bounded by the timeout, no signals. The response body is read and dropped (a
/// partial-success message is not acted on).
public final class CurlOTLPPoster: OTLPPoster {
    /// `…/v1/traces`.
    public let url: String
    public let caBundlePath: String?
    public let userAgent: String

    public init(url: String, caBundlePath: String? = nil, userAgent: String = "warden-otlp/1") {
        _ = curlGlobalInit
        self.url = url
        self.caBundlePath = caBundlePath
        self.userAgent = userAgent
    }

    public func post(_ body: [UInt8], timeout: Double) throws(OTLPPostError) -> Int {
        guard let handle = curl_easy_init() else { throw OTLPPostError("curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        var headers: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Content-Type: application/x-protobuf")
        headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip
        defer { curl_slist_free_all(headers) }
        let timeoutMs = max(1, Int(timeout * 1000))
        var setup = CURLE_OK
        func set(_ code: CURLcode) { if setup == CURLE_OK { setup = code } }
        set(warden_curl_setopt_string(handle, CURLOPT_URL, url))
        set(warden_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(warden_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        set(warden_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(warden_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs))
        set(warden_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs))
        set(warden_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent))
        set(warden_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
        if let ca = caBundlePath { set(warden_curl_setopt_string(handle, CURLOPT_CAINFO, ca)) }
        set(warden_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, { _, size, count, _ in size * count }))
        set(warden_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
        var status = 0
        let result: CURLcode = body.withUnsafeBytes { raw in
            set(warden_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress)))
            guard setup == CURLE_OK else { return setup }
            return curl_easy_perform(handle)
        }
        guard result == CURLE_OK else { throw OTLPPostError(String(cString: curl_easy_strerror(result))) }
        _ = warden_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return status
    }
}
