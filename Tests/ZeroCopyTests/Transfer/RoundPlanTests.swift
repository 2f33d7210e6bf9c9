// A ring round's plan (RingDriver.swift, RoundPlan): the pieces a round moves, as a value.

import Testing

@testable import ZeroCopy

@Suite("A ring round's plan")
struct RoundPlanTests {
  @Test("full pieces, then the short last one; none; one exact piece")
  func pieces() {
    #expect(Array(RoundPlan(slotSize: 4096, count: 3, total: 10_000)) == [4096, 4096, 1808])
    #expect(Array(RoundPlan(slotSize: 4096, count: 2, total: 8192)) == [4096, 4096])
    #expect(Array(RoundPlan(slotSize: 65_536, count: 1, total: 17)) == [17])
    #expect(RoundPlan(slotSize: 4096, count: 0, total: 0).isEmpty)
    #expect(RoundPlan(slotSize: 4096, count: 3, total: 10_000).reduce(0, +) == 10_000)
  }

  @Test("a piece outside the plan is a precondition failure")
  func outside() async {
    await #expect(processExitsWith: .failure) {
      _ = RoundPlan(slotSize: 4096, count: 2, total: 5000)[2]
    }
  }
}
