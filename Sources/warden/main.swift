import Glibc

// Entry point: dispatch on the subcommand; usage errors exit 2.
let arguments = Array(CommandLine.arguments.dropFirst())
exit(WardenCommand.run(arguments))
