import Foundation
import SwiftCapTensor

/// A PyTorch checkpoint written by `torch.save`, read without Python:
/// - the zip format (PyTorch ≥ 1.6): `<prefix>/data.pkl` plus one stored entry `<prefix>/data/<key>` per storage;
/// - the legacy format: five consecutive pickles (magic number, protocol 1001, sys info, the object,
///   the storage keys) followed by each storage as `int64 element count` + raw little-endian data.
///
/// The object is decoded by `PickleReader` (an allow-list of state_dict constructors, no code
/// execution). Every tensor found in nested dicts/lists is addressed by its dotted key path
/// (`conv.weight`, or `state_dict.conv.weight` when the state_dict is nested). Contiguous float32
/// tensors borrow the mapped file; other dtypes and strided tensors are converted/copied.
public struct TorchCheckpoint: TensorSource {
    public enum Format: String, Sendable { case zip, legacy }

    public let file: MappedFile
    public let format: Format
    /// The unpickled object (state_dict or a dict holding one).
    public let root: PickleValue
    /// Tensor names in pickle order.
    public let tensorNames: [String]
    private let tensorsByName: [String: TorchTensorRef]
    /// Storage key -> absolute byte range of its elements in the file.
    private let storageData: [String: Range<Int>]

    /// The legacy format's leading magic number 0x1950a86a20f9469cfc6c, as little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    public init(url: URL) throws { try self.init(file: MappedFile(url: url)) }
    public init(path: String) throws { try self.init(file: MappedFile(path: path)) }

    public init(file: MappedFile) throws {
        self.file = file
        let name = file.name
        var storages: [String: TorchStorageRef] = [:]
        var order: [TorchStorageRef] = []
        let persistentLoad: (PickleValue) throws -> PickleValue = { pid in
            guard let t = pid.asSequence, t.count >= 5, t[0].asString == "storage",
                  case .global(let module, let cls) = t[1], module == "torch",
                  let dtype = TorchDType.fromStorageClass(cls),
                  let key = t[2].asString, let location = t[3].asString,
                  let numel = t[4].asInt, numel >= 0, numel <= Int64(file.count) else {
                throw FormatError.unsupported(file: name, detail: "persistent id \(pid) is not a ('storage', torch.<T>Storage, key, location, numel) record")
            }
            var view: (String, Int, Int)?
            if t.count >= 6, let v = t[5].asSequence {
                guard v.count == 3, let vk = v[0].asString, let off = v[1].asInt, let size = v[2].asInt, off >= 0, size >= 0,
                      off <= Int64(file.count), size <= Int64(file.count) else {
                    throw FormatError.malformed(file: name, detail: "storage view metadata \(t[5]) is not (key, offset, size)")
                }
                view = (vk, Int(off), Int(size))
            }
            if let existing = storages[view?.0 ?? key], view == nil {
                guard existing.dtype == dtype else {
                    throw FormatError.malformed(file: name, detail: "storage '\(key)' is used with dtypes \(existing.dtype) and \(dtype)")
                }
                return .storage(existing)
            }
            let ref = TorchStorageRef(key: view?.0 ?? key, dtype: dtype, location: location, numel: Int(numel), view: view.map { ($0.0, $0.1, $0.2) })
            if view == nil { storages[key] = ref }
            order.append(ref)
            return .storage(ref)
        }

        var ranges: [String: Range<Int>] = [:]
        let rootValue: PickleValue
        if ZipArchive.looksLikeZip(file) {
            format = .zip
            let zip = try ZipArchive(file: file)
            guard let pkl = zip.entries.filter({ $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") })
                .min(by: { $0.name.count < $1.name.count }) else {
                throw FormatError.malformed(file: name, detail: "ZIP archive has no data.pkl entry (not a torch.save checkpoint)")
            }
            let prefix = String(pkl.name.dropLast("data.pkl".count))
            if let bo = zip.entry(prefix + "byteorder") {
                let order = String(decoding: try zip.data(bo), as: UTF8.self)
                guard order == "little" else {
                    throw FormatError.unsupported(file: name, detail: "checkpoint byte order '\(order)' (only little-endian is read)")
                }
            }
            let r = try zip.dataRange(pkl)
            var reader = PickleReader(file: file, offset: r.lowerBound, end: r.upperBound, persistentLoad: persistentLoad)
            rootValue = try reader.load()
            for s in order where ranges[s.key] == nil {
                guard let e = zip.entry(prefix + "data/" + s.key) else {
                    throw FormatError.malformed(file: name, detail: "storage '\(s.key)' has no entry \(prefix)data/\(s.key)")
                }
                ranges[s.key] = try zip.dataRange(e)
            }
        } else if file.count >= 2, file.bytes[0] == 0x80 {
            format = .legacy
            var r = PickleReader(file: file, offset: 0)
            guard case .bigInt(let magic) = try r.load(), magic == TorchCheckpoint.legacyMagic else {
                throw FormatError.malformed(file: name, detail: "pickle does not start with the legacy torch.save magic number (a plain pickle, not a checkpoint?)")
            }
            r = PickleReader(file: file, offset: r.position)
            let proto = try r.load()
            guard proto.asInt == 1001 else {
                throw FormatError.unsupported(file: name, detail: "legacy checkpoint protocol \(proto) (1001 expected)")
            }
            r = PickleReader(file: file, offset: r.position)
            if case .dict(let info) = try r.load(), let le = info["little_endian"], case .bool(false) = le {
                throw FormatError.unsupported(file: name, detail: "big-endian legacy checkpoint")
            }
            r = PickleReader(file: file, offset: r.position, persistentLoad: persistentLoad)
            rootValue = try r.load()
            r = PickleReader(file: file, offset: r.position)
            let keysValue = try r.load()
            guard let keys = keysValue.asSequence?.compactMap(\.asString), keys.count == keysValue.asSequence?.count else {
                throw FormatError.malformed(file: name, detail: "legacy storage key list is not a list of strings")
            }
            var offset = r.position
            for key in keys {
                guard let s = storages[key] else {
                    throw FormatError.malformed(file: name, detail: "legacy storage key '\(key)' is not referenced by the object")
                }
                let n = try file.readLE(Int64.self, at: offset, what: "element count of storage '\(key)'")
                guard n >= 0, n == Int64(s.numel) else {
                    throw FormatError.malformed(file: name, detail: "storage '\(key)' at byte \(offset) records \(n) elements, its reference says \(s.numel)")
                }
                let bytes = s.numel * s.dtype.elementType.byteSize
                try file.checkRange(offset: offset + 8, length: bytes, what: "data of storage '\(key)'")
                ranges[key] = (offset + 8)..<(offset + 8 + bytes)
                offset += 8 + bytes
            }
        } else {
            throw FormatError.malformed(file: name, detail: "neither a ZIP archive nor a pickle: not a PyTorch checkpoint")
        }
        root = rootValue
        storageData = ranges

        var names: [String] = []
        var byName: [String: TorchTensorRef] = [:]
        var seen = Set<ObjectIdentifier>()
        func walk(_ v: PickleValue, _ path: String, _ depth: Int) {
            guard depth < 64 else { return }
            func join(_ k: String) -> String { path.isEmpty ? k : path + "." + k }
            switch v {
            case .tensor(let t):
                if byName[path] == nil { names.append(path) }
                byName[path] = t
            case .dict(let d):
                guard seen.insert(ObjectIdentifier(d)).inserted else { return }
                for (k, x) in d.items {
                    switch k {
                    case .string(let s): walk(x, join(s), depth + 1)
                    case .int(let i): walk(x, join(String(i)), depth + 1)
                    default: continue
                    }
                }
            case .list(let l):
                guard seen.insert(ObjectIdentifier(l)).inserted else { return }
                for (i, x) in l.items.enumerated() { walk(x, join(String(i)), depth + 1) }
            case .tuple(let t):
                for (i, x) in t.enumerated() { walk(x, join(String(i)), depth + 1) }
            default: return
            }
        }
        walk(rootValue, "", 0)
        tensorNames = names
        tensorsByName = byName
    }

    public var sourceDescription: String { file.name }

    public func tensorRef(_ name: String) -> TorchTensorRef? { tensorsByName[name] }

    public func tensorInfo(_ name: String) -> TensorInfo? {
        tensorsByName[name].map { TensorInfo(dtype: $0.storage.dtype.rawValue, shape: $0.shape) }
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let t = tensorsByName[name] else { throw WeightError.missing(name: name, source: file.name) }
        let s = t.storage
        let es = s.dtype.elementType.byteSize
        guard var range = storageData[s.key] else {
            throw FormatError.badTensor(file: file.name, name: name, detail: "storage '\(s.key)' has no data in the file")
        }
        if let v = s.view {
            let lo = range.lowerBound + v.offset * es
            guard v.offset + v.size <= range.count / es else {
                throw FormatError.badTensor(file: file.name, name: name, detail: "storage view \(v) exceeds its root storage of \(range.count / es) elements")
            }
            range = lo..<(lo + v.size * es)
        }
        let available = range.count / es
        guard let count = Checked.product(t.shape) else {
            throw FormatError.badTensor(file: file.name, name: name, detail: "size \(t.shape) is too large")
        }
        if count == 0 { return Tensor(zeros: t.shape) }
        var last = t.storageOffset
        for (d, st) in zip(t.shape, t.strides) {
            guard let step = Checked.mul(d - 1, st), let next = Checked.add(last, step) else {
                throw FormatError.badTensor(file: file.name, name: name, detail: "size \(t.shape) with stride \(t.strides) overflows")
            }
            last = next
        }
        guard last < available else {
            throw FormatError.badTensor(file: file.name, name: name, detail: "size \(t.shape), stride \(t.strides), offset \(t.storageOffset) reach element \(last) of a storage with \(available) elements")
        }
        let span = last - t.storageOffset + 1
        // zero strides can describe far more elements than are stored; refuse absurd expansions
        guard count <= span || count <= 1 << 24 else {
            throw FormatError.badTensor(file: file.name, name: name, detail: "size \(t.shape) with stride \(t.strides) expands \(span) stored elements to \(count)")
        }
        let flat = try file.tensor(offset: range.lowerBound + t.storageOffset * es, type: s.dtype.elementType, shape: [span], tensorName: name)
        let view = Tensor(storage: flat.storage, shape: t.shape, strides: t.strides, offset: flat.offset)
        return view.isContiguous ? view : view.contiguous()
    }
}
