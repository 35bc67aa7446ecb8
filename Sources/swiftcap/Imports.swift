// Direct imports of every layer (besides the SwiftCap umbrella): the build then tracks each
// module as a direct dependency, so a change in a lower layer's public types rebuilds this tool
// (seen otherwise: a stale release binary with an old struct layout).
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapImage
import SwiftCapText
import SwiftCapMetrics
import SwiftCapModels
import SwiftCapPipelines
import SwiftCapHub
