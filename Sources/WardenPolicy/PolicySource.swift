import Foundation
import WardenYAML

/// The `--policy` files and directories, with loading and cheap change detection for hot reload.
///
/// Directories are walked recursively in sorted order, following symlinks, reading `*.yaml`/`*.yml`.
/// Entries whose name starts with `.` are skipped: in a Kubernetes ConfigMap mount the real files
/// live in `..2024_…/` and are reached through `..data` via the top-level `name.yaml -> ..data/name.yaml`
/// symlinks, so each file is read exactly once. A file reached twice (same resolved path) is read once.
public struct PolicySource: Sendable, Equatable {
    public var paths: [String]
    public var limits: YAMLLimits

    public init(paths: [String], limits: YAMLLimits = .default) {
        self.paths = paths
        self.limits = limits
    }

    /// Reads, parses and validates every file; throws every problem found (nothing partial is returned).
    public func load() throws(PolicyLoadFailure) -> PolicySet {
        var builder = PolicySetBuilder()
        let walk = collect()
        builder.errors.append(contentsOf: walk.errors)
        for file in walk.files {
            if file.size > limits.maxBytes {
                builder.errors.append(PolicyLoadError(file: file.display, line: 1, fieldPath: "",
                                                      message: "file of \(file.size) bytes exceeds the limit of \(limits.maxBytes) bytes"))
                continue
            }
            guard let data = FileManager.default.contents(atPath: file.display) else {
                builder.errors.append(PolicyLoadError(file: file.display, line: 1, fieldPath: "", message: "cannot read file"))
                continue
            }
            builder.add(yaml: [UInt8](data), file: file.display, limits: limits)
        }
        return try builder.finish()
    }

    /// A cheap summary of the inputs (resolved paths, inode, size, mtime, ctime), with no file reads.
    /// Poll it and reload when it changes; it also changes on a ConfigMap `..data` symlink swap.
    public func fingerprint() -> PolicyFingerprint {
        let walk = collect()
        return PolicyFingerprint(entries: walk.files.map { f in
            PolicyFingerprint.Entry(path: f.display, resolvedPath: f.resolved, device: f.device, inode: f.inode, size: f.size,
                                    modified: f.modified, changed: f.changed)
        }, errors: walk.errors.map(\.description))
    }

    struct FoundFile {
        var display: String
        var resolved: String
        var device: UInt64
        var inode: UInt64
        var size: Int
        var modified: Int64
        var changed: Int64
    }

    func collect() -> (files: [FoundFile], errors: [PolicyLoadError]) {
        var files: [FoundFile] = []
        var errors: [PolicyLoadError] = []
        var seenFiles: Set<String> = []
        var seenDirs: Set<String> = []

        func visit(_ path: String, explicit: Bool, depth: Int) {
            var st = stat()
            guard stat(path, &st) == 0 else {
                let reason = String(cString: strerror(errno))
                errors.append(PolicyLoadError(file: path, line: 0, fieldPath: "", message: "cannot access: \(reason)"))
                return
            }
            let resolved = realpath(path, nil).map { p -> String in defer { free(p) }; return String(cString: p) } ?? path
            if (st.st_mode & S_IFMT) == S_IFDIR {
                guard depth < 32, seenDirs.insert(resolved).inserted else { return }
                let names: [String]
                do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                    errors.append(PolicyLoadError(file: path, line: 0, fieldPath: "", message: "cannot list directory"))
                    return
                }
                for name in names.sorted() where !name.hasPrefix(".") {
                    visit(path.hasSuffix("/") ? path + name : path + "/" + name, explicit: false, depth: depth + 1)
                }
                return
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else { return }
            let lower = path.lowercased()
            guard explicit || lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") else { return }
            guard seenFiles.insert(resolved).inserted else { return }
            files.append(FoundFile(display: path, resolved: resolved, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                                   size: Int(st.st_size),
                                   modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                                   changed: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)))
        }
        for p in paths { visit(p, explicit: true, depth: 0) }
        return (files, errors)
    }
}

/// What `PolicySource.fingerprint()` saw; compare two with `==`.
public struct PolicyFingerprint: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var path: String
        public var resolvedPath: String
        public var device: UInt64
        public var inode: UInt64
        public var size: Int
        public var modified: Int64
        public var changed: Int64
    }

    public var entries: [Entry]
    /// Paths that could not be accessed (a change here also triggers a reload attempt).
    public var errors: [String]
}
