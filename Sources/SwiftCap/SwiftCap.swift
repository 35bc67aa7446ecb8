// The public API: one import gives every layer.
@_exported import SwiftCapTensor
@_exported import SwiftCapFormats
@_exported import SwiftCapImage
@_exported import SwiftCapText
@_exported import SwiftCapMetrics
@_exported import SwiftCapModels
@_exported import SwiftCapPipelines
@_exported import SwiftCapTraining
@_exported import SwiftCapHub
