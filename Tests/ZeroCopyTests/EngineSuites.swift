// The behavioural suite against each engine. The io_uring suite is skipped (and reported
// as skipped, with the reason) where io_uring is unavailable, e.g. with
// ZEROCOPY_DISABLE_IO_URING=1.

import Testing
import URing
import ZeroCopy

@Suite("io_uring engine", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment), .timeLimit(.hangGuard(minutes: 2)))
struct IOURingEngineTests {
  @Test func fileBasics() async throws { try await Behaviours.fileBasics(.ioUring) }
  @Test func fileErrors() async throws { try await Behaviours.fileErrors(.ioUring) }
  @Test func allocate() async throws { try await Behaviours.allocate(.ioUring) }
  @Test func concurrentReadsAndWrites() async throws { try await Behaviours.concurrentReadsAndWrites(.ioUring) }
  @Test func cancellationStorm() async throws { try await Behaviours.cancellationStorm(.ioUring) }
  @Test func closeWithReadsInFlight() async throws { try await Behaviours.closeWithReadsInFlight(.ioUring) }
  @Test func survivesFullQueues() async throws { try await Behaviours.survivesFullQueues(.ioUring) }
  @Test func chunks() async throws { try await Behaviours.chunks(.ioUring) }
  @Test func sockets() async throws { try await Behaviours.sockets(.ioUring) }
  @Test func engineLifecycle() async throws { try await Behaviours.engineLifecycle(.ioUring) }
  @Test func noDescriptorLeaks() async throws { try await Behaviours.noDescriptorLeaks(.ioUring) }
  @Test func cancelledTaskAndDroppedEngine() async throws { try await Behaviours.cancelledTaskAndDroppedEngine(.ioUring) }
}

@Suite("thread-pool engine", .timeLimit(.hangGuard(minutes: 2)))
struct ThreadPoolEngineTests {
  @Test func fileBasics() async throws { try await Behaviours.fileBasics(.threadPool) }
  @Test func fileErrors() async throws { try await Behaviours.fileErrors(.threadPool) }
  @Test func allocate() async throws { try await Behaviours.allocate(.threadPool) }
  @Test func concurrentReadsAndWrites() async throws { try await Behaviours.concurrentReadsAndWrites(.threadPool) }
  @Test func cancellationStorm() async throws { try await Behaviours.cancellationStorm(.threadPool) }
  @Test func closeWithReadsInFlight() async throws { try await Behaviours.closeWithReadsInFlight(.threadPool) }
  @Test func survivesFullQueues() async throws { try await Behaviours.survivesFullQueues(.threadPool) }
  @Test func chunks() async throws { try await Behaviours.chunks(.threadPool) }
  @Test func sockets() async throws { try await Behaviours.sockets(.threadPool) }
  @Test func engineLifecycle() async throws { try await Behaviours.engineLifecycle(.threadPool) }
  @Test func noDescriptorLeaks() async throws { try await Behaviours.noDescriptorLeaks(.threadPool) }
  @Test func cancelledTaskAndDroppedEngine() async throws { try await Behaviours.cancelledTaskAndDroppedEngine(.threadPool) }
}
