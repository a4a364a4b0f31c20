import Glibc

/// Human forms of Unix times for admin output, `decode` and `explain`.
enum TimeText {
    /// `2023-11-14T22:13:20Z` (UTC, whole seconds; fractional seconds as `.123`).
    static func rfc3339(_ t: Double) -> String {
        guard t.isFinite, abs(t) < 253_402_300_800 else { return t.isFinite ? String(t) : "never" }
        var secs = time_t(t.rounded(.down))
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        func pad(_ v: Int32, _ w: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        var out = "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1))-\(pad(tmv.tm_mday))T\(pad(tmv.tm_hour)):\(pad(tmv.tm_min)):\(pad(tmv.tm_sec))"
        let ms = Int32(((t - t.rounded(.down)) * 1000).rounded())
        if ms > 0 && ms < 1000 { out += "." + pad(ms, 3) }
        return out + "Z"
    }

    /// `3 h 2 min`, `45 s`: a duration for people.
    static func duration(_ seconds: Double) -> String {
        let s = Int(abs(seconds).rounded())
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" + (s % 60 == 0 ? "" : " \(s % 60) s") }
        if s < 172_800 { return "\(s / 3600) h" + (s % 3600 / 60 == 0 ? "" : " \(s % 3600 / 60) min") }
        return "\(s / 86400) d" + (s % 86400 / 3600 == 0 ? "" : " \(s % 86400 / 3600) h")
    }

    /// `in 5 min` / `3 h ago` relative to `now`.
    static func relative(_ t: Double, now: Double) -> String {
        let d = t - now
        if abs(d) < 0.5 { return "now" }
        return d > 0 ? "in \(duration(d))" : "\(duration(d)) ago"
    }

    /// Seconds as the shortest exact text (`60`, `1.5`).
    static func seconds(_ s: Double) -> String {
        s == s.rounded() && abs(s) < 1e15 ? String(Int64(s)) : String(s)
    }
}
