// FFI overhead: a house call saved from Kotlin (through the generated bindings and JNA) on the
// same demo grid and loop as core/benches/store.rs ("save one house call"), so the two p50s
// compare. Run by android-bindings/bench.sh against the release-ffi library.
package cn.gridbook.ffi

import java.io.File
import java.nio.file.Files

fun pct(sorted: List<Long>, p: Double): Long = sorted[Math.round((sorted.size - 1) * p).toInt()]
fun ms(ns: Long) = "%.3f ms".format(ns / 1e6)

fun main() {
    val dir = Files.createTempDirectory("gridbook-bench").toFile()
    val path = File(dir, "grid.db").path
    val key = ByteArray(32) { 1 }
    // Same as the Rust bench: the demo grid's worker is `worker-1`, writing as a district admin.
    val admin = Identity("worker-1", Role.DISTRICT_ADMIN, "district", listOf())

    val t0 = System.nanoTime()
    val demo = Store.open(path, key, admin).let { s ->
        // core::demo seed 7, DemoOptions::default(): 200 households, 90 days, today 2026-11-27.
        val g = s.seedDemoGrid(7uL, 200u, 90u, "2026-11-27")
        s.closeStore()
        g
    }
    println("demo grid: ${demo.households.size} households, ${demo.houseCalls.size} house calls, " +
        "generated in %.2f s".format((System.nanoTime() - t0) / 1e9))

    val s = Store.open(path, key, admin)
    val template = s.activeTemplate()
    val base = s.getHouseCall(demo.houseCalls.first())
    fun call(i: Int) = base.copy(
        householdId = demo.households[i % demo.households.size],
        problems = listOf(Problem("fire_hazard", "楼道堆放杂物，已劝导清理", true, false, null)),
        templateVersion = template.version,
    )
    // JIT warm-up of the binding code (the Rust bench needs none); not counted.
    repeat(100) { s.createHouseCall(call(it)) }
    val times = ArrayList<Long>(1000)
    for (i in 0 until 1000) {
        val c = call(i)
        val t = System.nanoTime()
        s.createHouseCall(c)
        times.add(System.nanoTime() - t)
    }
    times.sort()
    println("kotlin: save one house call (1,000 saves): p50 ${ms(pct(times, 0.5))}  p99 ${ms(pct(times, 0.99))}  max ${ms(pct(times, 1.0))}")

    // The bare cost of one call across the boundary (no SQLite): a trivial method.
    val trivial = ArrayList<Long>(10_000)
    repeat(10_000) {
        val t = System.nanoTime()
        s.isClosed()
        trivial.add(System.nanoTime() - t)
    }
    trivial.sort()
    println("kotlin: one trivial call (isClosed, 10,000 calls): p50 %.1f µs".format(pct(trivial, 0.5) / 1e3))
    val rec = call(0)
    val conv = ArrayList<Long>(2_000)
    repeat(2_000) {
        val t = System.nanoTime()
        try { s.createHouseCall(rec.copy(householdId = "no-such-household")) } catch (e: ApiException.NotFound) {}
        conv.add(System.nanoTime() - t)
    }
    conv.sort()
    println("kotlin: a refused house call (lowering + validation + typed exception, no write): p50 %.1f µs".format(pct(conv, 0.5) / 1e3))
    s.closeStore()
    dir.deleteRecursively()
}
