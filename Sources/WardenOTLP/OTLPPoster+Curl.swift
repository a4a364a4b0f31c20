internal import CCurl
internal import CWardenShims
import WardenSync

/// libcurl is initialised once per process, before the first handle (curl_global_init is not thread-safe;
/// `SpanExporter` makes its poster at start-up, on the main thread).
private let curlGlobalInit: UInt32 = curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue

/// OTLP/HTTP over libcurl: one easy handle kept for every batch, so its connection to the collector is
/// reused (HTTP keep-alive; callgrind: a handle and a connection per batch cost ~270k instructions, ~600
/// per span of a 400-span batch), one POST at a time; http/https only, no redirects, bounded by the
/// timeout, no signals. After a failure the same handle reconnects on the next batch. The response body is
/// read and dropped (a partial-success message is not acted on).
public final class CurlOTLPPoster: OTLPPoster {
    /// `…/v1/traces`.
    public let url: String
    public let caBundlePath: String?
    public let userAgent: String
    private let easy = Locked<EasyHandle?>(nil)

    public init(url: String, caBundlePath: String? = nil, userAgent: String = "warden-otlp/1") {
        _ = curlGlobalInit
        self.url = url
        self.caBundlePath = caBundlePath
        self.userAgent = userAgent
    }

    /// The easy handle and its header list, freed together.
    private final class EasyHandle {
        let handle: UnsafeMutableRawPointer
        let headers: UnsafeMutablePointer<curl_slist>?
        init(handle: UnsafeMutableRawPointer, headers: UnsafeMutablePointer<curl_slist>?) {
            self.handle = handle
            self.headers = headers
        }
        deinit {
            curl_easy_cleanup(handle)
            curl_slist_free_all(headers)
        }
    }

    /// A new handle with the options every POST shares; nil when curl cannot make one or take an option.
    private func makeHandle() -> (EasyHandle?, CURLcode) {
        guard let handle = curl_easy_init() else { return (nil, CURLE_FAILED_INIT) }
        var headers: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Content-Type: application/x-protobuf")
        headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip
        let easy = EasyHandle(handle: handle, headers: headers)
        var setup = CURLE_OK
        func set(_ code: CURLcode) { if setup == CURLE_OK { setup = code } }
        set(warden_curl_setopt_string(handle, CURLOPT_URL, url))
        set(warden_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(warden_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        set(warden_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(warden_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent))
        set(warden_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
        if let ca = caBundlePath { set(warden_curl_setopt_string(handle, CURLOPT_CAINFO, ca)) }
        set(warden_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, { _, size, count, _ in size * count }))
        return setup == CURLE_OK ? (easy, CURLE_OK) : (nil, setup)
    }

    public func post(_ body: [UInt8], timeout: Double) throws(OTLPPostError) -> Int {
        let (result, status): (CURLcode, Int) = easy.withLock { easy in
            if easy == nil {
                let (made, code) = makeHandle()
                guard let made else { return (code, 0) }
                easy = made
            }
            guard let handle = easy?.handle else { return (CURLE_FAILED_INIT, 0) }
            let timeoutMs = max(1, Int(timeout * 1000))
            var setup = CURLE_OK
            func set(_ code: CURLcode) { if setup == CURLE_OK { setup = code } }
            set(warden_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs))
            set(warden_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs))
            set(warden_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
            let result: CURLcode = body.withUnsafeBytes { raw in
                set(warden_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress)))
                guard setup == CURLE_OK else { return setup }
                return curl_easy_perform(handle)
            }
            // The body is about to be freed: the handle must not point at it.
            _ = warden_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil)
            var status = 0
            if result == CURLE_OK { _ = warden_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status) }
            return (result, status)
        }
        guard result == CURLE_OK else { throw OTLPPostError(String(cString: curl_easy_strerror(result))) }
        return status
    }
}
