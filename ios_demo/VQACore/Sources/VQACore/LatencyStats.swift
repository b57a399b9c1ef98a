import Foundation

/// Latency statistics with the host harness's definitions (benchmark/stats.py): numpy's
/// linear-interpolated percentiles, sample standard deviation (ddof 1; 0 for one sample) and
/// scipy's trim_mean cutting floor(0.1 * n) samples from each end.
public struct LatencyStats: Equatable, Sendable {
    public static let trimEachEnd = 0.1

    public let runs: Int
    public let mean: Double
    public let p50: Double
    public let p90: Double
    public let p99: Double
    public let std: Double
    public let trimmedMean: Double
    public let min: Double
    public let max: Double
    public let samples: [Double]

    public static func summarize(_ samplesMs: [Double]) -> LatencyStats? {
        guard !samplesMs.isEmpty else { return nil }
        let sorted = samplesMs.sorted()
        let n = sorted.count
        let mean = samplesMs.reduce(0, +) / Double(n)
        var std = 0.0
        if n > 1 {
            let squares = samplesMs.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) }
            std = (squares / Double(n - 1)).squareRoot()
        }
        let cut = Int(trimEachEnd * Double(n))
        let kept = sorted[cut..<(n - cut)]
        let trimmed = kept.reduce(0, +) / Double(kept.count)
        return LatencyStats(
            runs: n, mean: mean, p50: percentile(sorted, 50), p90: percentile(sorted, 90),
            p99: percentile(sorted, 99), std: std, trimmedMean: trimmed,
            min: sorted[0], max: sorted[n - 1], samples: samplesMs)
    }

    /// numpy.percentile(method="linear") of sorted values, with numpy's two-sided lerp.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let position = (q / 100.0) * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = Swift.min(below + 1, sorted.count - 1)
        let t = position - Double(below)
        let a = sorted[below], b = sorted[above]
        let difference = b - a
        return t >= 0.5 ? b - difference * (1 - t) : a + difference * t
    }
}
