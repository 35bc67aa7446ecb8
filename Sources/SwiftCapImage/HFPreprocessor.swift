import Foundation

extension PreprocessRecipe {
    /// The same recipe at another square input size (from a model config's `image_size`): a stretch becomes
    /// `size` x `size`, a short-side resize + centre crop becomes `size` then a `size` crop.
    public func resized(to size: Int) -> PreprocessRecipe {
        var r = self
        switch geometry {
        case .stretch: r.geometry = .stretch(width: size, height: size)
        case .shortSideThenCenterCrop: r.geometry = .shortSideThenCenterCrop(shortSide: size, crop: size)
        }
        r.name = "\(name)@\(size)"
        return r
    }

    /// A recipe from a Hugging Face `preprocessor_config.json` (BlipImageProcessor, CLIPImageProcessor and the
    /// like): `size` ({"height", "width"} → stretch; {"shortest_edge"} or an int with `do_center_crop` and
    /// `crop_size` → short side then centre crop), `resample` (Pillow's numbers), `do_rescale`/`rescale_factor`,
    /// `do_normalize`, `image_mean`, `image_std`. Keys that are absent keep `base`'s values.
    public static func huggingFace(preprocessorConfig data: Data, base: PreprocessRecipe, file: String = "preprocessor_config.json") throws -> PreprocessRecipe {
        func bad(_ what: String) -> ImageError { ImageError.invalidArgument(op: "preprocess from \(file)", what) }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw bad("not a JSON object") }
        var r = base
        r.name = (obj["image_processor_type"] as? String) ?? (obj["feature_extractor_type"] as? String) ?? "\(base.name) (preprocessor_config.json)"
        func int(_ v: Any?) -> Int? { (v as? NSNumber)?.intValue }
        func square(_ v: Any?) -> (h: Int, w: Int)? {
            if let n = int(v) { return (n, n) }
            if let d = v as? [String: Any], let h = int(d["height"]), let w = int(d["width"]) { return (h, w) }
            return nil
        }
        if (obj["do_resize"] as? Bool) != false, let size = obj["size"] {
            let crop = (obj["do_center_crop"] as? Bool) == true ? square(obj["crop_size"]) : nil
            if let d = size as? [String: Any], let short = int(d["shortest_edge"]) {
                guard let crop, crop.h == crop.w else { throw bad("shortest_edge \(short) without a square centre crop is not supported") }
                r.geometry = .shortSideThenCenterCrop(shortSide: short, crop: crop.h)
            } else if let n = int(size), let crop {
                guard crop.h == crop.w else { throw bad("non-square crop \(crop)") }
                r.geometry = .shortSideThenCenterCrop(shortSide: n, crop: crop.h)
            } else if let hw = square(size) {
                if let crop, crop.h < hw.h || crop.w < hw.w { throw bad("a resize to \(hw.w)x\(hw.h) followed by a \(crop.w)x\(crop.h) crop is not supported") }
                r.geometry = .stretch(width: hw.w, height: hw.h)
            } else {
                throw bad("'size' \(size) is not an int, {height, width} or {shortest_edge}")
            }
            guard r.outputShape[2] > 0, r.outputShape[3] > 0, r.outputShape[2] <= 4096, r.outputShape[3] <= 4096 else {
                throw bad("input size \(r.outputShape[3])x\(r.outputShape[2]) out of range")
            }
        }
        if let resample = obj["resample"] {
            let pillow: [Int: ResampleFilter] = [1: .lanczos, 2: .bilinear, 3: .bicubic, 4: .box, 5: .hamming]
            guard let n = int(resample), let f = pillow[n] else { throw bad("resample \(resample) (nearest or unknown) is not supported") }
            r.filter = f
        }
        let rescale = (obj["do_rescale"] as? Bool) == false ? 1.0 : ((obj["rescale_factor"] as? NSNumber)?.doubleValue ?? 1.0 / 255)
        var mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]
        if (obj["do_normalize"] as? Bool) != false {
            switch base.normalization {
            case .unit(let m, let s): (mean, std) = (m, s)
            case .byte(let m, let s): (mean, std) = (m.map { $0 / 255 }, s.map { $0 / 255 })
            }
            if let m = obj["image_mean"] as? [NSNumber] { mean = m.map(\.floatValue) }
            if let s = obj["image_std"] as? [NSNumber] { std = s.map(\.floatValue) }
            guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 }) else { throw bad("image_mean \(mean) / image_std \(std): need 3 values, std non-zero") }
        }
        if abs(rescale - 1.0 / 255) < 1e-9 {
            r.normalization = .unit(mean: mean, std: std)
        } else if rescale == 1 {
            r.normalization = .byte(mean: mean, std: std)
        } else {
            // (x * f - mean) / std == (x - mean / f) / (std / f)
            let f = Float(rescale)
            r.normalization = .byte(mean: mean.map { $0 / f }, std: std.map { $0 / f })
        }
        return r
    }
}
