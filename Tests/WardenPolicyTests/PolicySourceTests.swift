import Foundation
import Testing
@testable import WardenPolicy

/// A temporary directory removed when the test ends.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "warden-policy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ relative: String, _ text: String) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func symlink(_ relative: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path + "/" + relative, withDestinationPath: destination)
    }
}

@Suite struct PolicySourceTests {
    @Test func directoriesAreWalkedRecursivelyInSortedOrder() throws {
        let dir = try TempDir()
        try dir.write("b.yaml", ap("b", "rules:\n- {}"))
        try dir.write("a.yml", ap("a", "rules:\n- {}"))
        try dir.write("sub/c.yaml", ap("c", "rules:\n- {}"))
        try dir.write("notes.txt", "not yaml")
        try dir.write(".hidden.yaml", "this: [is not loaded")
        let set = try PolicySource(paths: [dir.path]).load()
        #expect(set.files == ["a.yml", "b.yaml", "sub/c.yaml"].map { dir.path + "/" + $0 })
        #expect(set.authorizationPolicies.map(\.ref.name) == ["a", "b", "c"])
    }

    /// The layout the kubelet creates for a ConfigMap volume, and its atomic update.
    @Test func configMapMountIsReadOnceAndSymlinkSwapsChangeTheFingerprint() throws {
        let dir = try TempDir()
        try dir.write("..2024_01_01_00_00_00.111/policy.yaml", ap("v1", "rules:\n- {}"))
        try dir.symlink("..data", to: "..2024_01_01_00_00_00.111")
        try dir.symlink("policy.yaml", to: "..data/policy.yaml")
        let source = PolicySource(paths: [dir.path])
        let first = try source.load()
        #expect(first.authorizationPolicies.map(\.ref.name) == ["v1"])
        #expect(first.files == [dir.path + "/policy.yaml"])
        let before = source.fingerprint()
        #expect(before == source.fingerprint())

        // kubelet: write the new timestamped dir, then atomically rename a new ..data link over the old one.
        try dir.write("..2024_01_02_00_00_00.222/policy.yaml", ap("v2", "rules:\n- {}"))
        try dir.symlink("..data_tmp", to: "..2024_01_02_00_00_00.222")
        #expect(rename(dir.path + "/..data_tmp", dir.path + "/..data") == 0)
        try FileManager.default.removeItem(atPath: dir.path + "/..2024_01_01_00_00_00.111")

        #expect(source.fingerprint() != before)
        #expect(try source.load().authorizationPolicies.map(\.ref.name) == ["v2"])
    }

    @Test func fingerprintChangesOnEditAndNewFiles() throws {
        let dir = try TempDir()
        try dir.write("a.yaml", ap("a", "rules:\n- {}"))
        let source = PolicySource(paths: [dir.path])
        let f0 = source.fingerprint()
        try dir.write("a.yaml", ap("a", "rules:\n- {}\n- {}"))
        let f1 = source.fingerprint()
        #expect(f1 != f0)
        try dir.write("b.yaml", ap("b", "rules:\n- {}"))
        #expect(source.fingerprint() != f1)
        #expect(source.fingerprint().entries.count == 2)
    }

    @Test func aFileReachedTwiceIsLoadedOnceAndMissingPathsAreErrors() throws {
        let dir = try TempDir()
        try dir.write("a.yaml", ap("a", "rules:\n- {}"))
        let set = try PolicySource(paths: [dir.path, dir.path + "/a.yaml"]).load()
        #expect(set.authorizationPolicies.count == 1)
        do {
            _ = try PolicySource(paths: [dir.path + "/missing.yaml"]).load()
            Issue.record("a missing path loaded")
        } catch {
            #expect(error.errors.first?.description == "\(dir.path)/missing.yaml:0: cannot access: No such file or directory")
        }
    }

    @Test func aBrokenSetReportsErrorsAndNothingPartial() throws {
        let dir = try TempDir()
        try dir.write("good.yaml", ap("good", "rules:\n- {}"))
        try dir.write("bad.yaml", ap("bad", "action: DENY"))
        #expect(throws: PolicyLoadFailure.self) { try PolicySource(paths: [dir.path]).load() }
    }
}

@Suite struct PathNormalizerTests {
    @Test(arguments: [
        ("/a/b/../c", "/a/c"), ("/a/./b/", "/a/b/"), ("/..", "/"), ("/a/..", "/"), ("//a//b", "//a//b"),
        ("/%7Euser/%41", "/~user/A"), ("/a%2fb", "/a%2Fb"), ("/a%5Cb", "/a%5Cb"), ("/a\\b", "/a/b"),
        ("/p?q=/../x#f", "/p"), ("/%2e%2e/x", "/x"), ("*", "*"),
    ])
    func normalizes(_ input: String, _ expected: String) {
        #expect(PathNormalizer.normalize(input) == expected)
    }

    /// The shortcut for already-normal paths answers exactly as the full normalization, or defers.
    @Test(arguments: ["/", "/a/b", "/a.b/c.d", "/.well-known/x", "/a/.", "/a/..", "/a/b?x=/../y", "/a#/../b",
                      "/a?", "/a//b", "/a/b.", "/a/.b/", "/a/%2e", "/a\\..", "*", "a/b", ""])
    func shortcutAgreesWithFullNormalization(_ input: String) {
        if let fast = PathNormalizer.alreadyNormal(input) {
            #expect(fast == PathNormalizer.fullyNormalized(input))
        }
        #expect(PathNormalizer.normalize(input) == PathNormalizer.fullyNormalized(input))
    }

    @Test func shortcutAgreesOnRandomPaths() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("/./a%2e?#\\b").map(String.init)
        var shortcuts = 0
        for _ in 0..<20_000 {
            let path = "/" + (0..<Int.random(in: 0...10, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            if let fast = PathNormalizer.alreadyNormal(path) {
                shortcuts += 1
                #expect(fast == PathNormalizer.fullyNormalized(path), "\(path)")
            }
        }
        #expect(shortcuts > 1000)   // the shortcut is taken for plain paths
    }

    @Test func rejectsNulAndBrokenEscapes() {
        #expect(PathNormalizer.normalize("/a%00") == nil)
        #expect(PathNormalizer.normalize("/a%zz") == nil)
        #expect(PathNormalizer.normalize("/a%2") == nil)
    }
}
