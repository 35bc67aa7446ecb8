import ArgumentParser
import Foundation
import SwiftCap

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print version, CPU features and GEMM backend, then run a self-check.")

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let device = compute.device
        print("swiftcap \(SwiftCapVersion.string)")
        print("cpu features: \(CPUFeatures.detect())")
        print("threads: \(device.threads) (cores: \(Device.availableCores))")
        print("gemm backend: \(device.gemm.name)")
        let report = SelfCheck.run(device: device)
        for line in report.lines { print("self-check: \(line)") }
        if !report.passed { throw ExitCode.failure }
        print("self-check: passed")
    }
}
