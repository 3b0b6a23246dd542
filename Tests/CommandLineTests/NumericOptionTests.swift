import ArgumentParser
import Testing
@testable import edu_driver
@testable import pl031_driver
@testable import uioctl

/// Every number a command takes is checked before it becomes a duration or a count: a bad one is
/// a usage error naming the option, never a trap.
@Suite("Numeric options")
struct NumericOptionTests {
    /// The usage message a bad command line gets, or `nil` when it parses.
    private func uioctlRefusal(_ arguments: [String]) -> String? {
        do {
            _ = try UIOCtl.parseAsRoot(arguments)
            return nil
        } catch {
            return UIOCtl.message(for: error)
        }
    }

    @Test("watch --interval refuses nan, inf, 0, 1e300 and a negative number, naming the option",
          arguments: ["nan", "inf", "-inf", "0", "1e300", "-1", "0.0001"])
    func watchInterval(value: String) throws {
        let message = try #require(uioctlRefusal(["watch", "uio0", "--interval=\(value)"]))
        #expect(message.contains("--interval must be a number of seconds from 0.001"))
    }

    @Test("watch and monitor --seconds refuse what cannot be a duration",
          arguments: ["watch", "monitor"], ["nan", "inf", "0", "1e300", "-1"])
    func seconds(command: String, value: String) throws {
        let arguments = command == "watch" ? ["watch", "uio0", "--seconds=\(value)"] : ["monitor", "--seconds=\(value)"]
        let message = try #require(uioctlRefusal(arguments))
        #expect(message.contains("--seconds must be a number of seconds"))
    }

    @Test("monitor --count refuses less than one event")
    func monitorCount() throws {
        let message = try #require(uioctlRefusal(["monitor", "--count=-3"]))
        #expect(message.contains("--count must be at least 1"))
    }

    @Test("sensible numbers parse")
    func sensibleNumbers() {
        #expect(uioctlRefusal(["watch", "uio0", "--interval", "0.5", "--seconds", "30"]) == nil)
        #expect(uioctlRefusal(["monitor", "--count", "2", "--seconds", "0.001"]) == nil)
        #expect(uioctlRefusal(["watch", "uio0", "--seconds", "31536000"]) == nil)
    }

    @Test("edu-driver refuses a negative --interrupts")
    func eduInterrupts() throws {
        let error = try #require(throws: (any Error).self) { try EduDriverCommand.parse(["--interrupts=-1"]) }
        #expect(EduDriverCommand.message(for: error).contains("--interrupts must be 0 or more"))
        #expect(throws: Never.self) { try EduDriverCommand.parse(["--interrupts", "0"]) }
    }

    @Test("pl031-driver refuses alarm counts and periods whose deadline would overflow",
          arguments: [["--alarms=9223372036854775807"], ["--alarms=0"], ["--alarms=-2"], ["--period=4294967295"], ["--period=0"]])
    func pl031Numbers(arguments: [String]) throws {
        let error = try #require(throws: (any Error).self) { try PL031DriverCommand.parse(arguments) }
        let option = arguments[0].split(separator: "=")[0]
        #expect(PL031DriverCommand.message(for: error).contains("\(option) must be from 1"))
        #expect(throws: Never.self) { try PL031DriverCommand.parse(["--alarms", "100000", "--period", "86400"]) }
    }
}
