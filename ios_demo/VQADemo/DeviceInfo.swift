import Darwin
import Foundation

/// The phone as a result row describes it, its thermal state, and the process's memory footprint.
enum DeviceInfo {
    /// The hardware model identifier, e.g. "iPhone16,1" (utsname's machine field).
    static var model: String {
        var system = utsname()
        uname(&system)
        return withUnsafeBytes(of: &system.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static var osName: String {
        let version = ProcessInfo.processInfo.operatingSystemVersion
        return "iOS \(version.majorVersion).\(version.minorVersion).\(version.patchVersion)"
    }

    /// The results schema's name of a thermal state (ProcessInfo.ThermalState's case names).
    static func thermalName(_ state: ProcessInfo.ThermalState) -> String? {
        switch state {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return nil
        }
    }

    static var thermalState: String? { thermalName(ProcessInfo.processInfo.thermalState) }

    /// Peak physical footprint of this process (TASK_VM_INFO's ledger_phys_footprint_peak).
    static var peakFootprintBytes: Int? {
        guard let info = vmInfo() else { return nil }
        return Int(info.ledger_phys_footprint_peak)
    }

    static var footprintBytes: Int? {
        guard let info = vmInfo() else { return nil }
        return Int(info.phys_footprint)
    }

    /// This task's port, from the Mach trap once: the usual `mach_task_self_` is a global `var`,
    /// which Swift 6 refuses to read from nonisolated code with SDKs that do not mark it safe.
    private static let taskPort: mach_port_t = task_self_trap()

    private static func vmInfo() -> task_vm_info_data_t? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(
            MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let result = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) { raw in
                task_info(taskPort, task_flavor_t(TASK_VM_INFO), raw, &count)
            }
        }
        return result == KERN_SUCCESS ? info : nil
    }
}
