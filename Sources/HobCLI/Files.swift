// `hob fs ls|cat|put|rm|mv|cp|chmod`: a sprite's files from outside it (SPRITES-API.md §10). The daemon works on the
// sprite's disk directly, so none of these wakes a sleeping sprite. `cat` and `put` stream: a file of any size goes
// through without being held in memory.

import ArgumentParser
import HobAPI
import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct Fs: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fs",
        abstract: "List, read, write, move, copy, chmod and delete a sprite's files.",
        discussion: """
            Paths are inside the sprite (relative ones start at /). A sleeping sprite stays asleep.

            Examples:
              hob fs ls demo /root
              hob fs put demo ./app.tar.gz /srv/app.tar.gz
              hob fs cat demo /etc/os-release
              hob fs mv demo /srv/a /srv/b
              hob fs cp -r demo /srv /srv.bak
              hob fs chmod demo 755 /srv/run.sh
              hob fs rm -r demo /srv.bak
            """,
        subcommands: [List.self, Cat.self, Put.self, Remove.self, Move.self, Copy.self, ChangeMode.self])

    public init() {}
}

extension Fs {
    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List a directory (or show one file).",
            discussion: """
                Examples:
                  hob fs ls demo
                  hob fs ls demo /srv --recursive
                  hob fs ls demo /etc/hosts --json | jq '.entries[0].size'
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Path in the sprite.")
        public var path = "/"

        @Flag(name: .shortAndLong, help: "Everything below the directory, not only its entries.")
        public var recursive = false

        @Flag(help: "Print the server's answer as JSON.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                let listing = try await Daemon.client().listFiles(sprite: name, path: path, recursive: recursive)
                if json { try JSONOutput.print(listing) } else if !listing.entries.isEmpty { print(Self.table(listing.entries)) }
            }
        }

        static func table(_ entries: [FsEntry]) -> String {
            var table = TextTable(headers: ["MODE", "SIZE", "MODIFIED", "NAME"])
            for entry in entries {
                let kind = ["directory": "d", "symlink": "l", "fifo": "p", "socket": "s", "char_device": "c", "block_device": "b"]
                table.rows.append([
                    (kind[entry.type] ?? "-") + entry.mode, entry.isDir ? "-" : ByteCount.format(entry.size), entry.modTime,
                    entry.name + (entry.isDir ? "/" : ""),
                ])
            }
            return table.render()
        }
    }

    public struct Cat: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Write a file's bytes to stdout.",
            discussion: """
                Examples:
                  hob fs cat demo /etc/os-release
                  hob fs cat demo /srv/backup.tar > backup.tar
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Path in the sprite.")
        public var path: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                try await Daemon.client().readFile(sprite: name, path: path) { piece in
                    guard StandardStream.write(STDOUT_FILENO, piece) else { throw CommandError("cannot write to stdout") }
                }
            }
        }
    }

    public struct Put: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Write a local file (or stdin) to a path in the sprite.",
            discussion: """
                The file in the sprite is replaced only once every byte has arrived. Missing directories above it \
                are made unless --no-parents. A replaced file keeps its mode unless --mode is given.

                Examples:
                  hob fs put demo ./config.json /srv/config.json
                  hob fs put demo ./run.sh /srv/run.sh --mode 755
                  tar c src | hob fs put demo - /srv/src.tar
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Local file, or - for stdin.")
        public var local: String

        @Argument(help: "Path in the sprite.")
        public var path: String

        @Option(help: ArgumentHelp("Permission bits in octal, e.g. 644.", valueName: "mode"))
        public var mode: String?

        @Flag(name: .customLong("no-parents"), help: "Fail if the directory above the path does not exist.")
        public var noParents = false

        @Flag(help: "Print the server's answer as JSON.")
        public var json = false

        public init() {}

        public func validate() throws {
            if let mode, FsMode.parse(mode) == nil { throw ValidationError("--mode must be octal permission bits such as 644") }
        }

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                let fd = local == "-" ? STDIN_FILENO : open(local, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw CommandError("cannot open \(local): \(String(cString: strerror(errno)))") }
                defer { if fd != STDIN_FILENO { close(fd) } }
                var st = stat()
                let length: Int64? = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : nil
                let source = local
                let written = try await Daemon.client().writeFile(
                    sprite: name, path: path, mode: mode.flatMap(FsMode.parse), makeParents: !noParents, length: length
                ) {
                    switch await StandardStream.read(fd, maxBytes: 1 << 20) {
                    case .data(let bytes): return bytes
                    case .endOfFile: return nil
                    case .failed(let code): throw CommandError("cannot read \(source): \(String(cString: strerror(code)))")
                    }
                }
                if json { try JSONOutput.print(written) } else { print("Wrote \(ByteCount.format(written.size)) to \(written.path) on \(name)") }
            }
        }
    }

    public struct Remove: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Delete a file, a symlink or a directory.",
            discussion: """
                Examples:
                  hob fs rm demo /srv/old.log
                  hob fs rm -r demo /srv/cache
                """)

        @Flag(name: .shortAndLong, help: "Delete a directory and everything in it.")
        public var recursive = false

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Path in the sprite.")
        public var path: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                let deleted = try await Daemon.client().deleteFile(sprite: name, path: path, recursive: recursive)
                print("Deleted \(deleted.deleted.joined(separator: ", ")) on \(name)" + (deleted.count > 1 ? " (\(deleted.count) entries)" : ""))
            }
        }
    }

    public struct Move: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "mv",
            abstract: "Rename a file or directory (an existing file at the destination is replaced).",
            discussion: """
                Examples:
                  hob fs mv demo /srv/app.new /srv/app
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Path in the sprite.")
        public var source: String

        @Argument(help: "New path in the sprite.")
        public var destination: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                let moved = try await Daemon.client().renameFile(sprite: name, from: source, to: destination)
                print("Moved \(moved.source) to \(moved.dest) on \(name)")
            }
        }
    }

    public struct Copy: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "cp",
            abstract: "Copy a file, or a directory with -r.",
            discussion: """
                Owners and modes are kept; --preserve also keeps times. A directory is copied to a new path only.

                Examples:
                  hob fs cp demo /srv/config.json /srv/config.json.bak
                  hob fs cp -r demo /srv /srv.bak
                """)

        @Flag(name: .shortAndLong, help: "Copy a directory and everything in it.")
        public var recursive = false

        @Flag(help: "Also keep access and modification times.")
        public var preserve = false

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Path in the sprite.")
        public var source: String

        @Argument(help: "Path of the copy in the sprite.")
        public var destination: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                let copied = try await Daemon.client().copyFile(
                    sprite: name, from: source, to: destination, recursive: recursive, keepTimes: preserve)
                print("Copied \(copied.source) to \(copied.dest) on \(name) (\(copied.count) entries, \(ByteCount.format(copied.totalBytes)))")
            }
        }
    }

    public struct ChangeMode: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "chmod",
            abstract: "Set permission bits.",
            discussion: """
                Examples:
                  hob fs chmod demo 755 /srv/run.sh
                  hob fs chmod -R demo 750 /srv
                """)

        @Flag(name: [.customShort("R"), .long], help: "Also everything below a directory (symlinks are skipped).")
        public var recursive = false

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Permission bits in octal, e.g. 644.")
        public var mode: String

        @Argument(help: "Path in the sprite.")
        public var path: String

        public init() {}

        public func validate() throws {
            if FsMode.parse(mode) == nil { throw ValidationError("MODE must be octal permission bits such as 644") }
        }

        public func run() async throws {
            try await CommandFailure.reporting(.file(sprite: name)) {
                let bits = FsMode.parse(mode) ?? 0
                let changed = try await Daemon.client().changeMode(sprite: name, path: path, mode: bits, recursive: recursive)
                print("Set \(changed.mode) on \(changed.path) on \(name)" + (changed.count > 1 ? " (\(changed.count) entries)" : ""))
            }
        }
    }
}
