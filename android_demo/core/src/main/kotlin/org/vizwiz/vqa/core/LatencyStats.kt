package org.vizwiz.vqa.core

import kotlin.math.floor
import kotlin.math.sqrt

/**
 * Latency statistics with the host harness's definitions (benchmark/stats.py): numpy's
 * linear-interpolated percentiles, sample standard deviation (0 for one run) and scipy's
 * trim_mean cutting floor(10 % of n) runs from each end (the middle 80 % remain).
 */
object LatencyStats {
    const val TRIM = 0.1

    data class Summary(
        val runs: Int,
        val mean: Double,
        val p50: Double,
        val p90: Double,
        val p99: Double,
        val std: Double,
        val trimmedMean: Double,
        val min: Double,
        val max: Double,
    )

    fun summarize(samplesMs: DoubleArray): Summary {
        if (samplesMs.isEmpty()) throw CoreException("no timed runs to summarize")
        if (samplesMs.any { it.isNaN() || it < 0 }) throw CoreException("timed runs must be non-negative numbers")
        val sorted = samplesMs.sortedArray()
        val n = sorted.size
        val mean = samplesMs.sum() / n
        val std = if (n > 1) sqrt(samplesMs.sumOf { (it - mean) * (it - mean) } / (n - 1)) else 0.0
        val cut = floor(TRIM * n).toInt()
        val kept = sorted.copyOfRange(cut, n - cut)
        return Summary(
            runs = n,
            mean = mean,
            p50 = percentile(sorted, 50.0),
            p90 = percentile(sorted, 90.0),
            p99 = percentile(sorted, 99.0),
            std = std,
            trimmedMean = kept.sum() / kept.size,
            min = sorted.first(),
            max = sorted.last(),
        )
    }

    /** numpy.percentile(method="linear") of sorted values, with numpy's two-sided lerp. */
    fun percentile(sorted: DoubleArray, q: Double): Double {
        val index = (q / 100.0) * (sorted.size - 1)
        val lo = floor(index).toInt()
        val hi = minOf(lo + 1, sorted.size - 1)
        val t = index - lo
        val a = sorted[lo]
        val b = sorted[hi]
        val diff = b - a
        return if (t >= 0.5) b - diff * (1 - t) else a + diff * t
    }
}
