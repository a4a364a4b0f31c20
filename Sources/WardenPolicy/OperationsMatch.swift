/// Whether a request matches a list of operations (a `to`), when some connection facts may be unreported
/// (`ConnectionFact`): the HTTP front door never reports the destination port `ports`/`notPorts` read.
public enum OperationsMatch: Equatable, Sendable {
    /// An operation matches on what was reported alone.
    case matches
    /// No operation matches, whatever the unreported facts are.
    case noMatch
    /// No operation matches outright, and one would if these unreported facts had the right values: the
    /// caller decides fail closed.
    case undecided(Set<ConnectionFact>)
}
