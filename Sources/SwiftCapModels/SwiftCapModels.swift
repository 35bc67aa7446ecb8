// SwiftCapModels: see Package.swift for where this layer sits.
