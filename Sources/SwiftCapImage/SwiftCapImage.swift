// SwiftCapImage: see Package.swift for where this layer sits.
//
// Files: RGBImage (the decoded pixel value type), ImageError, ImageDecoder (JPEG/PNG through
// CImageShim), EXIF (APP1 orientation parsing), PNGWriter, Resample (Pillow's separable
// resampling), Preprocess (per-model recipes producing [1, 3, H, W] tensors).
