/// The SwiftCap release version.
public enum SwiftCapVersion {
    public static let string = "0.1.0"
}
