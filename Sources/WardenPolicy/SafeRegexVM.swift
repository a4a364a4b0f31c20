/// The Pike VM for `SafeRegex`: a simulation of the NFA that keeps the *set* of program counters alive at the
/// current text position (no thread carries captures, so a set suffices) and advances all of them by one scalar
/// at a time. An instruction enters a set at most once per position (a generation mark per instruction), so a
/// match visits at most 2 × program size instructions per text position: O(len(text) × program size), with no
/// backtracking, whatever the pattern — `(a+)+b` against "aaaa…c" included.
extension SafeRegex {
    /// Whether the whole of `text` matches (an implicit `\A(?:…)\z`, as Envoy's full match of a route regex).
    func wholeMatches(_ text: Substring) -> Bool {
        var steps = 0
        return wholeMatches(text, steps: &steps)
    }

    /// As `wholeMatches(_:)`, adding to `steps` one per instruction visited (for tests of the linear bound).
    func wholeMatches(_ text: Substring, steps: inout Int) -> Bool {
        let insts = program.insts
        let sets = program.sets
        let foldsCase = program.foldsCase
        let scalars = text.unicodeScalars
        let n = insts.count

        var mark = [UInt32](repeating: 0, count: n)
        var generation: UInt32 = 0
        var current: [Int] = []
        var next: [Int] = []
        var stack: [Int] = []
        current.reserveCapacity(n)
        next.reserveCapacity(n)

        @inline(__always) func isWord(_ c: Unicode.Scalar?) -> Bool {
            guard let v = c?.value else { return false }
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || v == 0x5F || (0x61...0x7A).contains(v)
        }

        /// Adds the instructions reachable from `pc` by ε-moves (splits, jumps, assertions that hold between
        /// `before` and `after`) to `list`: only the ones that consume a scalar or match.
        func addClosure(_ pc: Int, to list: inout [Int], before: Unicode.Scalar?, after: Unicode.Scalar?) {
            stack.append(pc)
            while let pc = stack.popLast() {
                if mark[pc] == generation { continue }
                mark[pc] = generation
                steps += 1
                switch insts[pc] {
                case .jump(let target):
                    stack.append(target)
                case .split(let x, let y):
                    stack.append(y)
                    stack.append(x)
                case .assert(let a):
                    let holds: Bool
                    switch a {
                    case .beginText: holds = before == nil
                    case .endText: holds = after == nil
                    case .beginLine: holds = before == nil || before == "\n"
                    case .endLine: holds = after == nil || after == "\n"
                    case .wordBoundary: holds = isWord(before) != isWord(after)
                    case .notWordBoundary: holds = isWord(before) == isWord(after)
                    }
                    if holds { stack.append(pc + 1) }
                default:
                    list.append(pc)
                }
            }
        }

        var index = scalars.startIndex
        var before: Unicode.Scalar? = nil
        var here: Unicode.Scalar? = index < scalars.endIndex ? scalars[index] : nil
        generation &+= 1
        addClosure(0, to: &current, before: nil, after: here)

        while let c = here {
            if current.isEmpty { return false }
            let nextIndex = scalars.index(after: index)
            let after: Unicode.Scalar? = nextIndex < scalars.endIndex ? scalars[nextIndex] : nil
            let v = c.value
            // Case variants of the text scalar, for (?i): its key, and its lower and upper forms for classes.
            var key = v, lower = v, upper = v
            if foldsCase {
                lower = SafeRegexCase.lower(v)
                upper = SafeRegexCase.upper(v)
                key = SafeRegexCase.lower(upper)
            }
            generation &+= 1
            next.removeAll(keepingCapacity: true)
            for pc in current {
                steps += 1
                let consumes: Bool
                switch insts[pc] {
                case .char(let x): consumes = v == x
                case .charFold(let x): consumes = key == x
                case .any: consumes = true
                case .anyNotNewline: consumes = v != 0x0A
                case .set(let k):
                    let set = sets[k]
                    var inSet = set.contains(v)
                    if !inSet, set.foldCase {
                        inSet = set.contains(lower) || set.contains(upper) || set.contains(key)
                            || set.contains(SafeRegexCase.upper(lower))
                    }
                    consumes = inSet != set.negated
                default: consumes = false  // match: only at the end of the text
                }
                if consumes { addClosure(pc + 1, to: &next, before: c, after: after) }
            }
            swap(&current, &next)
            before = c
            here = after
            index = nextIndex
        }
        _ = before
        return current.contains { if case .match = insts[$0] { true } else { false } }
    }
}
