internal import CCurl
internal import CWardenShims

/// libcurl is initialised once per process, before the first handle (curl_global_init is not thread-safe).
private let curlGlobalInit: UInt32 = curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue

/// Fetches documents with libcurl: one easy handle per request (refreshes are rare, so no pool),
/// `http`/`https` only (also for redirects), CA bundle, libcurl's proxy environment handling
/// (`https_proxy`, `no_proxy`, …), timeouts, a body size limit, and no signals (thread-safe).
public final class CurlFetcher: JWKSFetcher {
    /// PEM CA bundle for HTTPS; nil = libcurl's default (the system store).
    public let caBundlePath: String?
    /// Redirects followed (each must stay http/https).
    public let maxRedirects: Int
    public let userAgent: String

    public init(caBundlePath: String? = nil, maxRedirects: Int = 3, userAgent: String = "warden-jwks/1") {
        _ = curlGlobalInit
        self.caBundlePath = caBundlePath
        self.maxRedirects = maxRedirects
        self.userAgent = userAgent
    }

    public func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
        try perform(request, form: nil, extraHeaders: [])
    }

    /// POSTs `form` (`application/x-www-form-urlencoded`) with `headers` (each a whole `Name: value` line,
    /// which the caller has validated: no CR, LF or NUL). Redirects are not followed: a POST carries
    /// credentials and a token, which must not be replayed to another URL.
    public func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument {
        try perform(request, form: form, extraHeaders: headers)
    }

    private func perform(_ request: FetchRequest, form: [UInt8]?, extraHeaders: [String]) throws(FetchError) -> FetchedDocument {
        guard FetchError.isHTTP(request.url) else { throw .unsupportedScheme(request.url) }
        guard let handle = curl_easy_init() else { throw .transfer(code: -1, message: "curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }

        let sink = ResponseSink(maxBytes: request.maxBytes)
        var headers: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Accept: application/json")
        if let etag = request.ifNoneMatch { headers = curl_slist_append(headers, "If-None-Match: \(etag)") }
        if form != nil { headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded") }
        for line in extraHeaders { headers = curl_slist_append(headers, line) }
        defer { curl_slist_free_all(headers) }

        let timeoutMs = max(1, Int(request.timeout * 1000))
        var setup = CURLE_OK
        func set(_ code: CURLcode) { if setup == CURLE_OK { setup = code } }
        set(warden_curl_setopt_string(handle, CURLOPT_URL, request.url))
        set(warden_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        // An https URL never leads to plain http: a redirect from it may only go to https (else an attacker
        // on the path, or the IdP's own open redirect, could serve keys over http).
        let https = request.url.utf8.count >= 8 && request.url.prefix(8).lowercased() == "https://"
        set(warden_curl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https"))
        set(warden_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, form == nil ? 1 : 0))
        if var form {
            set(warden_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, form.count))
            // COPYPOSTFIELDS copies the bytes now (POSTFIELDSIZE set first), so `form` need not outlive this call.
            set(form.withUnsafeMutableBytes { warden_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) })
        }
        set(warden_curl_setopt_long(handle, CURLOPT_MAXREDIRS, maxRedirects))
        set(warden_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(warden_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs))
        set(warden_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs))
        set(warden_curl_setopt_long(handle, CURLOPT_MAXFILESIZE, request.maxBytes))
        set(warden_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, ""))
        set(warden_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent))
        set(warden_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
        if let ca = caBundlePath { set(warden_curl_setopt_string(handle, CURLOPT_CAINFO, ca)) }

        let context = Unmanaged.passUnretained(sink).toOpaque()
        set(warden_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, { data, size, count, userdata in
            let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
            let n = size * count
            guard let data else { return n }
            return sink.appendBody(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
        }))
        set(warden_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        set(warden_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, { data, size, count, userdata in
            let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
            let n = size * count
            if let data { sink.header(UnsafeRawBufferPointer(start: data, count: n)) }
            return n
        }))
        set(warden_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        if setup != CURLE_OK { throw CurlFetcher.error(setup, sink: sink, request: request) }

        let result = withExtendedLifetime(sink) { curl_easy_perform(handle) }
        if result != CURLE_OK { throw CurlFetcher.error(result, sink: sink, request: request) }
        var status = 0
        _ = warden_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return FetchedDocument(status: status, body: sink.body, etag: sink.etag)
    }

    /// The one funnel from CURLcode to FetchError.
    private static func error(_ code: CURLcode, sink: ResponseSink, request: FetchRequest) -> FetchError {
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL:
            return .unsupportedScheme(request.url)
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut
        case CURLE_FILESIZE_EXCEEDED:
            return .tooLarge(limit: request.maxBytes)
        case CURLE_WRITE_ERROR where sink.overflowed:
            return .tooLarge(limit: request.maxBytes)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .couldNotConnect(message(code))
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ISSUER_ERROR,
             CURLE_SSL_CRL_BADFILE, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            return .tls(message(code))
        default:
            return .transfer(code: Int(code.rawValue), message: message(code))
        }
    }

    private static func message(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}

/// Collects one response; touched only by the thread running `curl_easy_perform`.
private final class ResponseSink {
    let maxBytes: Int
    var body: [UInt8] = []
    var etag: String?
    var overflowed = false

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// Appends body bytes; false (abort the transfer) once the limit is exceeded.
    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if body.count + bytes.count > maxBytes {
            overflowed = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Records the ETag of the final response (a redirect's status line resets what came before).
    func header(_ line: UnsafeRawBufferPointer) {
        guard let text = String(validating: line, as: UTF8.self) else { return }
        if text.hasPrefix("HTTP/") { etag = nil; body.removeAll(keepingCapacity: true); return }
        guard let colon = text.firstIndex(of: ":") else { return }
        guard text[..<colon].lowercased() == "etag" else { return }
        let value = text[text.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
        etag = value.isEmpty ? nil : value
    }
}

private extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}
