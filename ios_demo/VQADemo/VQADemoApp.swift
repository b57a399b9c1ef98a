import SwiftUI

/// Ask a question about a photo and hear the answer, offline. Launched with `--benchmark`,
/// the app runs the benchmark (and accuracy) mode instead and writes its files.
@main
struct VQADemoApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(model)
                .task { await model.launch(arguments: ProcessInfo.processInfo.arguments) }
        }
        .onChange(of: scenePhase) {
            if scenePhase == .background { model.enteredBackground() }
        }
    }
}
