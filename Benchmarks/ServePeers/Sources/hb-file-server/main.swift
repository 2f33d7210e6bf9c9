// The Hummingbird 2 peer of `make bench-serve`: Hummingbird's FileMiddleware serving one
// directory (files are read through NIOFileSystem in 128 KiB chunks and written by
// SwiftNIO), on as many event loops as cores — its defaults.
//
//   hb-file-server DIR PORT

import Foundation
import Hummingbird

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[2]) else {
  print("usage: hb-file-server DIR PORT")
  exit(64)
}
let router = Router()
router.add(middleware: FileMiddleware(arguments[1], searchForIndexHtml: true))
let app = Application(
  router: router,
  configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hummingbird"))
try await app.runService()
