print("warden: not yet wired")
