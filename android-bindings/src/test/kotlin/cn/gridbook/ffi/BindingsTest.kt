// JVM test suite of the generated Kotlin bindings, run against the host library through JNA by
// scripts/test-android.sh. A plain `main` runner (no JUnit): prints one line per scenario and
// `N passed, N failed`, exits non-zero on failure.
//
// Environment: GRIDBOOK_SERVER = path of the gridbook-server binary (the sync scenarios start it
// with `demo --listen 127.0.0.1:0`).
package cn.gridbook.ffi

import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.system.exitProcess
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

// ------------------------------------------------------------------ fixtures

/**
 * FAKE KEYSTORE: a fixed 32-byte store key. On a phone the key is 32 random bytes generated once
 * and kept in the Android Keystore; no Keystore exists on the JVM, so these tests use constants.
 */
val KEY = ByteArray(32) { it.toByte() }
const val DAY_MS = 86_400_000L

/** 2026-11-26T02:00:00Z (10:00 in China). */
const val NOV26 = 1_795_658_400_000L

val tempDirs = java.util.concurrent.ConcurrentLinkedQueue<File>()
fun tempDir(): File = Files.createTempDirectory("gridbook-kt").toFile().also { tempDirs.add(it) }

fun admin() = Identity("admin", Role.DISTRICT_ADMIN, "district", listOf())
fun worker(grid: String) = Identity("worker-1", Role.GRID_WORKER, grid, listOf(grid))
fun supervisor(grid: String) = Identity("sup-1", Role.COMMUNITY_SUPERVISOR, "community", listOf(grid))

/** District → sub-district → community → grid, local 15-digit codes. Returns the grid id. */
fun seedOrg(store: Store): String {
    val me = store.identity()
    store.setIdentity(admin())
    val d = store.createOrgNode(OrgNode("邹城市", OrgLevel.DISTRICT, "370883", null, "2026-01-01", null))
    val s = store.createOrgNode(OrgNode("钢山街道", OrgLevel.SUB_DISTRICT, "370883001", d, "2026-01-01", null))
    val c = store.createOrgNode(OrgNode("幸福社区", OrgLevel.COMMUNITY, "370883001002", s, "2026-01-01", null))
    val g = store.createOrgNode(OrgNode("幸福社区第一网格", OrgLevel.GRID, "370883001002003", c, "2026-01-01", null))
    store.setIdentity(me)
    return g
}

fun household(grid: String, room: String = "301", registered: String = "2026-11-01") = Household(
    gridAssignments = listOf(GridAssignment(grid, "2026-01-01")),
    building = "3号楼", unit = "2单元", room = room,
    address = "幸福路 8 号 3号楼 2单元 $room",
    housingUse = HousingUse.OWNER_OCCUPIED,
    registeredOn = registered,
)

fun houseCall(grid: String, hh: String, at: Long = NOV26, visitor: String = "worker-1") = HouseCall(
    gridId = grid, householdId = hh, personIds = listOf(), visitor = visitor, companions = listOf(),
    startedAt = at, endedAt = at + 20 * 60_000, location = GeoPoint(35.40, 116.97),
    templateId = "3456", templateVersion = 1u,
    answers = mapOf("know.situation" to "true", "clear.key_person_status" to "\"无异常\""),
    problems = listOf(Problem("fire_hazard", "楼道堆放杂物，已劝导清理", true, false, null)),
    photos = listOf(), followUpDue = null, notes = "独居老人身体状况良好",
)

fun incident(grid: String) = Case(
    gridId = grid, caseKind = CaseKind.INCIDENT, category = "safety_hazard", subcategory = null,
    scale = "individual", title = "楼道电动车充电", description = "3号楼楼道有电动车飞线充电",
    location = null, address = "幸福路 8 号 3号楼", reporter = "worker-1", channel = null,
    residentName = null, residentPhone = null, photos = listOf(), occurredAt = NOV26,
)

/** A worker's store with the org tree and one household. */
class Fixture(val dir: File = tempDir()) {
    val path = File(dir, "phone.sqlite3").path
    val store = Store.open(path, KEY, admin())
    val grid = seedOrg(store)
    init { store.setIdentity(worker(grid)) }
    val hh = store.createHousehold(household(grid))
}

/** Whether `needle` occurs in `hay` (raw-bytes search of a store file). */
fun containsBytes(hay: ByteArray, needle: ByteArray): Boolean =
    (0..hay.size - needle.size).any { i -> needle.indices.all { hay[i + it] == needle[it] } }

/** Send each side what the other lacks. */
fun exchange(a: Store, b: Store) {
    b.applyRemoteChanges(a.changesSince(b.docHeads()))
    a.applyRemoteChanges(b.changesSince(a.docHeads()))
}

inline fun <reified T : ApiException> expectCode(code: String, block: () -> Unit): T {
    val e = assertFailsWith<T> { block() }
    assertEquals(code, codeOf(e), "error code (${e.message})")
    return e
}

fun codeOf(e: ApiException): String = when (e) {
    is ApiException.Invalid -> e.code
    is ApiException.NotFound -> e.code
    is ApiException.Refused -> e.code
    is ApiException.Storage -> e.code
    is ApiException.Sync -> e.code
}

fun zhOf(e: ApiException): String = when (e) {
    is ApiException.Invalid -> e.messageZh
    is ApiException.NotFound -> e.messageZh
    is ApiException.Refused -> e.messageZh
    is ApiException.Storage -> e.messageZh
    is ApiException.Sync -> e.messageZh
}

// ------------------------------------------------------------------ the demo server

class DemoServer : AutoCloseable {
    val url: String
    private val process: Process
    private val data = tempDir()

    init {
        val bin = System.getenv("GRIDBOOK_SERVER") ?: "target/debug/gridbook-server"
        val pb = ProcessBuilder(bin, "demo", "--listen", "127.0.0.1:0", "--data", data.path,
            "--households", "2", "--days", "3")
        pb.environment()["GRIDBOOK_ARGON2_MEMORY_KIB"] = "256"
        pb.environment()["GRIDBOOK_ARGON2_ITERATIONS"] = "1"
        pb.environment()["GRIDBOOK_LOG"] = "warn"
        pb.redirectError(ProcessBuilder.Redirect.INHERIT)
        process = pb.start()
        val reader = process.inputStream.bufferedReader()
        var found: String? = null
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        while (found == null && System.nanoTime() < deadline) {
            val line = reader.readLine() ?: break
            val m = Regex("listening on (http://\\S+)").find(line)
            if (m != null) found = m.groupValues[1]
        }
        if (found == null) { process.destroyForcibly(); fail("gridbook-server did not start") }
        url = found
        // Keep draining stdout so the server never blocks on a full pipe.
        Thread { reader.forEachLine { } }.apply { isDaemon = true }.start()
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

// The demo server speaks plain HTTP on loopback: the development flag, explicitly.
fun fastSync() = SyncConfig(maxAttempts = 1u, backoffBaseMs = 10uL, requestTimeoutMs = 20_000uL, allowInsecureHttp = true)

fun phone(): Store = Store.open(File(tempDir(), "phone.sqlite3").path, KEY, Identity("", Role.GRID_LEADER, "", listOf()))

class Events : SyncProgress {
    val events = CopyOnWriteArrayList<SyncEvent>()
    override fun onEvent(event: SyncEvent) { events.add(event) }
}

// ------------------------------------------------------------------ scenarios

val scenarios = linkedMapOf<String, () -> Unit>()
fun scenario(name: String, body: () -> Unit) { scenarios[name] = body }

fun defineScenarios(server: () -> DemoServer) {
    scenario("create every record kind offline, close and reopen") {
        val f = Fixture()
        val s = f.store
        val person = s.createPerson(Person(f.hh, f.grid, "王秀英", "110101194501012014", "13800138000", "户主",
            "1945-01-01", listOf(PersonLabel("living_alone_elderly", LabelCategory.CARE, "2026-01-01", null,
                AttentionLevel.ATTENTION, "worker-1"))))
        val call = s.createHouseCall(houseCall(f.grid, f.hh))
        val patrol = s.createPatrol(Patrol(f.grid, "worker-1", NOV26, NOV26 + 3_600_000,
            listOf(TrackPoint(NOV26, GeoPoint(35.4, 116.97))), listOf(PatrolCheckin("3号楼", NOV26 + 60_000, "正常")),
            listOf(), "例行巡查"))
        val ledger = s.createLedger(Ledger(f.grid, "worker-1", "2026-11-26", "今日走访 1 户"))
        val case = s.createCase(incident(f.grid))
        assertEquals(RecordKind.PATROL, s.kindOf(patrol))
        assertEquals(RecordKind.INCIDENT, s.kindOf(case))
        assertTrue(s.outboxLen() >= 10uL, "every write queued for the server")
        s.updateHousehold(f.hh, household(f.grid).copy(housingUse = HousingUse.RENTED))
        s.closeStore()
        assertTrue(s.isClosed())

        val again = Store.open(f.path, KEY, worker(f.grid))
        assertEquals(household(f.grid).copy(housingUse = HousingUse.RENTED), again.getHousehold(f.hh))
        assertEquals("王秀英", again.getPerson(person).name)
        assertEquals(houseCall(f.grid, f.hh), again.getHouseCall(call))
        assertEquals("例行巡查", again.getPatrol(patrol).notes)
        assertEquals("今日走访 1 户", again.getLedger(ledger).notes)
        assertEquals(incident(f.grid), again.getCase(case))
        val rows = again.households(f.grid)
        assertEquals(1, rows.size)
        assertEquals(1L, rows[0].persons)
        assertEquals("2026-11-26", rows[0].lastVisit)
        assertTrue(again.getJson(f.hh).contains("幸福路"))
        again.closeStore()
        // Encrypted at rest: the file (and any WAL beside it) holds none of the plaintext.
        for (file in listOf(File(f.path), File(f.path + "-wal")).filter { it.exists() }) {
            val raw = file.readBytes()
            for (secret in listOf("王秀英", "110101194501012014", "13800138000", "幸福路")) {
                assertFalse(containsBytes(raw, secret.toByteArray(Charsets.UTF_8)), "${file.name} holds $secret")
            }
        }
    }

    scenario("visits due: a never-visited household, then a house call clears it") {
        val f = Fixture()
        val s = f.store
        s.createPerson(Person(f.hh, f.grid, "李建国", null, null, "户主", null,
            listOf(PersonLabel("living_alone_elderly", LabelCategory.CARE, "2026-11-10", null, AttentionLevel.KEY, null))))
        val due = s.visitsDue("2026-11-27", f.grid)
        val ordinary = due.single { it.itemId == "household" }
        assertEquals("2026-11-01", ordinary.due)
        assertEquals(26L, ordinary.daysOverdue)
        val alone = due.single { it.itemId == "visit.living_alone" }
        assertEquals("2026-11-10", alone.due)
        assertEquals(17L, alone.daysOverdue)
        assertEquals(listOf(ordinary, alone), due, "most overdue first")

        s.createHouseCall(houseCall(f.grid, f.hh, at = NOV26))
        val after = s.visitsDue("2026-11-27", f.grid)
        assertTrue(after.none { it.itemId == "household" }, "the ordinary visit is not due for 182 days")
        assertTrue(after.none { it.itemId == "visit.living_alone" }, "the weekly visit was just made")
        val week = s.visitsDue("2026-12-03", f.grid).single { it.itemId == "visit.living_alone" }
        assertEquals("2026-12-03", week.due)
        assertEquals("2026-11-26", week.lastVisit)
    }

    scenario("ledger: submit, locked, returned with a comment, resubmitted, approved") {
        val f = Fixture()
        val s = f.store
        s.createHouseCall(houseCall(f.grid, f.hh))
        val id = s.createLedger(Ledger(f.grid, "worker-1", "2026-11-26", "初稿"))
        val row = s.ledger(id)
        assertEquals("draft", row.reviewState)
        assertEquals(1L, row.houseCalls)
        assertEquals(1L, row.householdsVisited)
        assertEquals(mapOf("fire_hazard" to 1L), row.problemsByKind)
        assertEquals(1L, row.solvedOnSpot)
        s.submitLedger(id)
        assertEquals("submitted", s.ledger(id).reviewState)
        expectCode<ApiException.Refused>("ledger_locked") { s.updateLedger(id, Ledger(f.grid, "worker-1", "2026-11-26", "改")) }
        expectCode<ApiException.Refused>("role_not_allowed") { s.approveLedger(id) }

        s.setIdentity(supervisor(f.grid))
        expectCode<ApiException.Invalid>("empty_field") { s.returnLedger(id, "  ") }
        s.returnLedger(id, "请补充问题处置情况")
        val returned = s.ledger(id)
        assertEquals("returned", returned.reviewState)
        assertEquals("请补充问题处置情况", returned.reviewComment)

        s.setIdentity(worker(f.grid))
        s.updateLedger(id, Ledger(f.grid, "worker-1", "2026-11-26", "已补充：杂物已清理"))
        s.submitLedger(id)
        s.setIdentity(supervisor(f.grid))
        s.approveLedger(id)
        assertEquals("approved", s.ledger(id).reviewState)
        assertEquals(listOf(id), s.ledgers("worker-1", "2026-11-01", "2026-11-30").map { it.id })
        assertEquals(listOf(), s.ledgers("worker-2", "2026-11-01", "2026-11-30"))
    }

    scenario("incident closed loop: report → accept → dispatch → handle → verify → feedback → archive") {
        val f = Fixture()
        val s = f.store
        s.setFixedClock(NOV26)
        val id = s.createCase(incident(f.grid))
        var v = s.caseView(id)
        assertEquals("draft", v.state)
        assertTrue("report" in v.availableActions, "worker may report: ${v.availableActions}")
        v = s.caseAction(id, "report", null, mapOf())
        assertEquals("reported", v.state)

        s.setIdentity(supervisor(f.grid))
        s.setFixedClock(NOV26 + 3_600_000)
        expectCode<ApiException.Invalid>("unknown_action") { s.caseAction(id, "teleport", null, mapOf()) }
        expectCode<ApiException.Refused>("action_not_allowed_in_state") { s.caseAction(id, "archive", null, mapOf()) }
        v = s.caseAction(id, "accept", null, mapOf())
        assertEquals("accepted", v.state)
        expectCode<ApiException.Invalid>("missing_param") { s.caseAction(id, "dispatch", null, mapOf()) }
        v = s.caseAction(id, "dispatch", "请城管处理", mapOf("department" to "dept-urban"))
        assertEquals("dispatched", v.state)
        assertEquals("dept-urban", v.department)

        s.setIdentity(Identity("dept-1", Role.DEPARTMENT, "dept-urban", listOf()))
        s.setFixedClock(NOV26 + 7_200_000)
        v = s.caseAction(id, "department_accept", null, mapOf())
        assertEquals("handling", v.state)
        assertNotNull(v.deadline, "the handling stage has a time limit")
        assertEquals(DeadlineLevel.ON_TIME, v.deadline!!.level)
        v = s.caseAction(id, "complete", "已拆除飞线", mapOf())
        assertEquals("handled", v.state)

        s.setIdentity(supervisor(f.grid))
        v = s.caseAction(id, "verify_pass", null, mapOf())
        assertEquals("verified", v.state)
        s.setIdentity(worker(f.grid))
        v = s.caseAction(id, "feedback", null, mapOf())
        assertEquals("feedback", v.state)
        v = s.caseAction(id, "follow_up", null, mapOf("satisfaction" to "satisfied"))
        s.setIdentity(supervisor(f.grid))
        v = s.caseAction(id, "archive", null, mapOf())
        assertEquals("archived", v.state)
        assertEquals(listOf("report", "accept", "dispatch", "department_accept", "complete", "verify_pass",
            "feedback", "follow_up", "archive"), v.history.map { it.action })
        assertEquals(Role.DEPARTMENT, v.history[3].role)
        assertEquals(0u, v.workflowConflicts)
        assertTrue(v.availableActions.isEmpty(), "nothing after archive: ${v.availableActions}")
        assertTrue(v.stateJson.contains("satisfied"))
        val listed = s.cases(f.grid, "archived")
        assertEquals(listOf(id), listed.map { it.id })
        assertEquals(NOV26, listed[0].occurredAt)
        assertEquals(listOf(), s.cases(f.grid, "reported"))
        expectCode<ApiException.Refused>("case_closed") { s.caseAction(id, "urge", null, mapOf()) }
    }

    scenario("conflicts between two stores are listed and resolved") {
        val a = Fixture()
        val b = Store.open(File(tempDir(), "b.sqlite3").path, KEY, worker(a.grid))
        exchange(a.store, b)
        assertEquals(a.store.getHousehold(a.hh), b.getHousehold(a.hh))
        a.store.updateHousehold(a.hh, household(a.grid).copy(address = "幸福路 8 号（东门）"))
        b.updateHousehold(a.hh, household(a.grid).copy(address = "幸福路 10 号"))
        exchange(a.store, b)
        for (s in listOf(a.store, b)) {
            val c = s.conflicts().single()
            assertEquals(a.hh, c.id)
            assertEquals(RecordKind.HOUSEHOLD, c.kind)
            val field = c.fields.single()
            assertEquals("body/address", field.path)
            assertEquals(setOf("\"幸福路 8 号（东门）\"", "\"幸福路 10 号\""), field.values.toSet())
        }
        expectCode<ApiException.Invalid>("invalid_json") { a.store.resolveConflict(a.hh, "body/address", "幸福路") }
        expectCode<ApiException.Refused>("no_conflict") { a.store.resolveConflict(a.hh, "body/room", "\"302\"") }
        a.store.resolveConflict(a.hh, "body/address", "\"幸福路 10 号\"")
        exchange(a.store, b)
        assertEquals(listOf(), a.store.conflicts())
        assertEquals(listOf(), b.conflicts())
        assertEquals("幸福路 10 号", b.getHousehold(a.hh).address)
        val again = a.store.applyRemoteChanges(b.changesSince(mapOf()))
        assertEquals(0uL, again.applied, "re-delivery is a no-op")
        assertTrue(again.duplicates > 0uL)
    }

    scenario("delete, restore, and an edit that raced a delete") {
        val a = Fixture()
        val s = a.store
        s.delete(a.hh)
        expectCode<ApiException.Refused>("record_deleted") { s.updateHousehold(a.hh, household(a.grid)) }
        expectCode<ApiException.Refused>("record_deleted") { s.delete(a.hh) }
        assertEquals(listOf(), s.households(a.grid))
        s.restore(a.hh)
        assertEquals(1, s.households(a.grid).size)

        val b = Store.open(File(tempDir(), "b.sqlite3").path, KEY, worker(a.grid))
        exchange(s, b)
        s.delete(a.hh)
        b.updateHousehold(a.hh, household(a.grid).copy(room = "302"))
        exchange(s, b)
        val c = s.conflicts().single { it.id == a.hh }
        assertTrue(c.editedWhileDeleted)
        s.resolveDelete(a.hh, DeleteResolution.RESTORE)
        exchange(s, b)
        assertEquals("302", b.getHousehold(a.hh).room)
        assertTrue(b.conflicts().none { it.editedWhileDeleted })
    }

    scenario("typed errors: closed store, wrong and empty key, unknown id") {
        val f = Fixture()
        val s = f.store
        expectCode<ApiException.NotFound>("not_found") { s.getHousehold("no-such-id") }
        expectCode<ApiException.NotFound>("not_found") { s.kindOf("no-such-id") }
        expectCode<ApiException.NotFound>("not_found") { s.ledger("no-such-id") }
        expectCode<ApiException.NotFound>("not_found") { s.caseView("no-such-id") }
        expectCode<ApiException.NotFound>("not_found") { s.caseView(f.hh) } // a household is not a case
        expectCode<ApiException.NotFound>("not_found") { s.submitLedger("no-such-id") }
        expectCode<ApiException.NotFound>("not_found") { s.template("3456", 99u) }
        expectCode<ApiException.NotFound>("not_found") {
            s.createHouseCall(houseCall(f.grid, "no-such-household"))
        }
        val e = expectCode<ApiException.Invalid>("invalid_key") { Store.open(File(f.dir, "x.sqlite3").path, ByteArray(0), admin()) }
        assertEquals("数据库密钥为空", zhOf(e))
        expectCode<ApiException.Invalid>("invalid_key") { Store.openInMemory(ByteArray(0), admin()) }
        s.closeStore()
        expectCode<ApiException.Storage>("wrong_key") { Store.open(f.path, ByteArray(32) { 7 }, admin()) }

        val calls: List<Pair<String, () -> Unit>> = listOf(
            "identity" to { s.identity() },
            "getHousehold" to { s.getHousehold(f.hh) },
            "createHousehold" to { s.createHousehold(household(f.grid)) },
            "households" to { s.households(null) },
            "visitsDue" to { s.visitsDue("2026-11-27", null) },
            "ledgers" to { s.ledgers(null, "2026-11-01", "2026-11-30") },
            "cases" to { s.cases(null, null) },
            "conflicts" to { s.conflicts() },
            "caseAction" to { s.caseAction(f.hh, "report", null, mapOf()) },
            "changesSince" to { s.changesSince(mapOf()) },
            "applyRemoteChanges" to { s.applyRemoteChanges(listOf()) },
            "delete" to { s.delete(f.hh) },
            "outboxLen" to { s.outboxLen() },
        )
        for ((name, call) in calls) {
            val err = assertFailsWith<ApiException.Refused>(name) { call() }
            assertEquals("store_closed", err.code, name)
        }
        s.closeStore() // idempotent
        // The file is intact: reopening with the right key works.
        assertEquals(f.hh, Store.open(f.path, KEY, worker(f.grid)).households(f.grid).single().id)
    }

    scenario("typed errors: invalid enum text, dates, JSON, fields and change bytes") {
        val f = Fixture()
        val s = f.store
        expectCode<ApiException.Invalid>("invalid_date") { s.visitsDue("27/11/2026", null) }
        expectCode<ApiException.Invalid>("invalid_date") { s.ledgers(null, "2026-11-01", "yesterday") }
        expectCode<ApiException.Invalid>("invalid_date") { s.createHousehold(household(f.grid, registered = "2026-13-01")) }
        expectCode<ApiException.Invalid>("invalid_json") {
            s.createHouseCall(houseCall(f.grid, f.hh).copy(answers = mapOf("know.situation" to "yes")))
        }
        expectCode<ApiException.Invalid>("wrong_answer_type") {
            s.createHouseCall(houseCall(f.grid, f.hh).copy(answers = mapOf("know.situation" to "\"yes\"")))
        }
        expectCode<ApiException.Invalid>("unknown_template_item") {
            s.createHouseCall(houseCall(f.grid, f.hh).copy(answers = mapOf("nope" to "true")))
        }
        expectCode<ApiException.Invalid>("unknown_problem_kind") {
            s.createHouseCall(houseCall(f.grid, f.hh).copy(problems = listOf(Problem("arson", "x", false, true, null))))
        }
        expectCode<ApiException.Invalid>("unknown_action") {
            s.caseAction(s.createCase(incident(f.grid)), "fly", null, mapOf())
        }
        expectCode<ApiException.Invalid>("empty_field") { s.createHousehold(household(f.grid).copy(address = " ")) }
        expectCode<ApiException.Invalid>("end_before_start") {
            s.createHouseCall(houseCall(f.grid, f.hh).copy(endedAt = NOV26 - 1))
        }
        expectCode<ApiException.Invalid>("invalid_time") { s.createHouseCall(houseCall(f.grid, f.hh, at = Long.MAX_VALUE - 1)) }
        expectCode<ApiException.Invalid>("invalid_phone") {
            s.createPerson(Person(f.hh, f.grid, "张三", null, "12345", "户主", null, listOf()))
        }
        expectCode<ApiException.Invalid>("invalid_grid_code") {
            s.setIdentity(admin())
            s.createOrgNode(OrgNode("坏区", OrgLevel.DISTRICT, "000000", null, "2026-01-01", null))
        }
        s.setIdentity(worker(f.grid))
        expectCode<ApiException.Refused>("out_of_scope") { s.createHousehold(household("another-grid")) }
        expectCode<ApiException.Invalid>("invalid_change") {
            s.applyRemoteChanges(listOf(RemoteChange(f.hh, byteArrayOf(1, 2, 3))))
        }
        // A refused write changes nothing.
        assertEquals(1, s.households(null).size)
    }

    scenario("every exported Store method: closed store and unknown ids give typed errors, never a crash") {
        val f = Fixture()
        val s = f.store
        val template = s.activeTemplate()
        val samples: Map<Class<*>, Any> = mapOf(
            String::class.java to "no-such-id",
            ByteArray::class.java to KEY,
            java.lang.Long.TYPE to NOV26,
            Long::class.javaObjectType to NOV26,
            Integer.TYPE to 1,
            java.lang.Boolean.TYPE to false,
            Map::class.java to mapOf<String, String>(),
            List::class.java to listOf<Any>(),
            Identity::class.java to worker(f.grid),
            OrgNode::class.java to OrgNode("x", OrgLevel.GRID, "370883001002009", "no-such-id", "2026-01-01", null),
            Household::class.java to household(f.grid),
            Person::class.java to Person("no-such-id", f.grid, "张三", null, null, "户主", null, listOf()),
            HouseCall::class.java to houseCall(f.grid, "no-such-id"),
            Patrol::class.java to Patrol(f.grid, "worker-1", NOV26, null, listOf(), listOf(), listOf(), ""),
            Ledger::class.java to Ledger(f.grid, "worker-1", "2026-11-26", ""),
            Case::class.java to incident(f.grid),
            ChecklistTemplate::class.java to template,
            DeleteResolution::class.java to DeleteResolution.RESTORE,
        )
        val methods = StoreInterface::class.java.methods.sortedBy { it.name }
        fun args(m: java.lang.reflect.Method) = m.parameterTypes.map { t ->
            samples[t] ?: fail("no sample for ${t.name} in ${m.name}")
        }.toTypedArray()
        fun call(m: java.lang.reflect.Method): Throwable? = try {
            m.invoke(s, *args(m)); null
        } catch (e: java.lang.reflect.InvocationTargetException) { e.targetException }
        assertTrue(methods.size >= 45, "${methods.size} methods")

        // Open store, unknown ids: a typed ApiException or a value, never anything else.
        var notFound = 0
        for (m in methods.filter { it.name !in setOf("closeStore", "setIdentity", "setFixedClock") }) {
            when (val e = call(m)) {
                null -> {}
                is ApiException -> if (e is ApiException.NotFound) notFound++
                else -> fail("${m.name} threw ${e::class.qualifiedName}: $e")
            }
        }
        assertTrue(notFound >= 20, "unknown ids are NotFound ($notFound)")

        // Closed store: every method but close/isClosed throws a typed error.
        s.closeStore()
        val inputCodes = setOf("invalid_date", "invalid_time", "invalid_json")
        for (m in methods.filter { it.name !in setOf("closeStore", "isClosed") }) {
            val e = call(m) ?: fail("${m.name} succeeded on a closed store")
            assertTrue(e is ApiException, "${m.name} threw ${e::class.qualifiedName}: $e")
            val code = codeOf(e)
            assertTrue(code == "store_closed" || code in inputCodes, "${m.name}: $code")
        }
        assertTrue(s.isClosed())
    }

    scenario("logs are forwarded to the host") {
        val lines = CopyOnWriteArrayList<String>()
        initLogging(object : LogSink {
            override fun log(level: LogLevel, target: String, message: String) {
                lines.add("$level $target $message")
            }
        }, LogLevel.INFO)
        logTestMessage("你好 from Kotlin")
        assertTrue(lines.any { it.contains("INFO") && it.contains("gridbook_ffi") && it.contains("你好 from Kotlin") }, "$lines")
        initLogging(object : LogSink {
            override fun log(level: LogLevel, target: String, message: String) {}
        }, LogLevel.ERROR)
        assertTrue(libraryVersion().isNotEmpty())
    }

    scenario("sync with a real gridbook-server: login, pull, push, second phone sees it") {
        val srv = server()
        val a = phone()
        val client = SyncClient(srv.url, fastSync())
        val info = runBlocking { client.login(a, "grid01", "demo-grid01", "Kotlin test phone") }
        assertEquals("grid01", info.accountId)
        assertEquals(Role.GRID_WORKER, info.role)
        assertEquals(Role.GRID_WORKER, a.identity().role)
        assertEquals(info.deviceId, a.deviceId())
        val grid = info.grids.single()
        val events = Events()
        val first = runBlocking { client.sync(a, events) }
        assertTrue(first.received > 0uL, "pulled the demo grid: $first")
        assertEquals(SyncEvent.Started, events.events.first())
        assertEquals(SyncEvent.Finished(first), events.events.last())
        val hh = a.households(grid)
        assertEquals(2, hh.size, "two demo households")

        val call = a.createHouseCall(houseCall(grid, hh[0].id, visitor = "grid01"))
        assertEquals(1uL, a.outboxLen())
        val second = runBlocking { client.sync(a, null) }
        assertEquals(1uL, second.sent)
        assertEquals(0uL, second.rejected)
        assertEquals(0uL, a.outboxLen())

        val b = phone()
        val clientB = SyncClient(srv.url, fastSync())
        runBlocking { clientB.login(b, "grid01", "demo-grid01", "second phone") }
        runBlocking { clientB.sync(b, null) }
        assertEquals(a.getHouseCall(call), b.getHouseCall(call))
        // A token kept from an earlier login works in a new client.
        val clientC = SyncClient(srv.url, fastSync())
        clientC.setToken(info.token)
        val third = runBlocking { clientC.sync(a, null) }
        assertEquals(0uL, third.sent)
    }

    scenario("sync errors are typed: bad password, not logged in, no server, closed store") {
        val srv = server()
        val s = phone()
        val bad = SyncClient(srv.url, fastSync())
        val e = assertFailsWith<ApiException.Sync> { runBlocking { bad.login(s, "grid01", "wrong", "phone") } }
        assertTrue(e.code.isNotEmpty() && e.code != "network_error", e.code)
        expectCode<ApiException.Sync>("not_logged_in") { runBlocking { bad.sync(s, null) } }
        val port = ServerSocket(0).use { it.localPort } // closed again: nothing listens there
        val nowhere = SyncClient("http://127.0.0.1:$port", fastSync())
        nowhere.setToken("t")
        val events = Events()
        expectCode<ApiException.Sync>("network_error") { runBlocking { nowhere.sync(s, events) } }
        assertEquals(SyncEvent.Failed("network_error"), events.events.last())
        s.closeStore()
        expectCode<ApiException.Refused>("store_closed") { runBlocking { nowhere.sync(s, null) } }
    }

    scenario("sync is cancellable and releases the store") {
        val s = phone()
        ServerSocket(0).use { silent ->
            // Accepts the connection and never answers.
            val t = Thread { runCatching { silent.accept().use { Thread.sleep(30_000) } } }.apply { isDaemon = true; start() }
            val client = SyncClient("http://127.0.0.1:${silent.localPort}", fastSync())
            client.setToken("t")
            val started = System.nanoTime()
            assertFailsWith<TimeoutCancellationException> {
                runBlocking { withTimeout(700) { client.sync(s, null) } }
            }
            val ms = (System.nanoTime() - started) / 1_000_000
            assertTrue(ms < 5_000, "cancelled promptly ($ms ms)")
            // The store's lock was released with the dropped sync.
            assertEquals(0uL, s.outboxLen())
            t.interrupt()
        }
    }
}

fun main() {
    var srv: DemoServer? = null
    val server = { srv ?: DemoServer().also { srv = it } }
    defineScenarios(server)
    val only = System.getenv("GRIDBOOK_KT_ONLY")
    var passed = 0
    var failed = 0
    try {
        for ((name, body) in scenarios) {
            if (only != null && !name.contains(only)) continue
            val t0 = System.nanoTime()
            try {
                body()
                passed++
                println("ok    $name (${(System.nanoTime() - t0) / 1_000_000} ms)")
            } catch (e: Throwable) {
                failed++
                println("FAIL  $name: $e")
                e.printStackTrace(System.out)
            }
        }
    } finally {
        srv?.close()
        tempDirs.forEach { it.deleteRecursively() }
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
