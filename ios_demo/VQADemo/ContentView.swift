import Accessibility
import SwiftUI

@MainActor
struct ContentView: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.dynamicTypeSize) private var typeSize
    @State private var typedQuestion = ""
    @State private var showSettings = false

    var body: some View {
        if let message = model.benchmarkMessage {
            ScrollView {
                Text(message)
                    .font(.body)
                    .padding()
                    .accessibilityLabel("Benchmark: \(message)")
            }
        } else {
            mainScreen
        }
    }

    /// One column that scrolls; the two question buttons stack at accessibility text sizes.
    private var mainScreen: some View {
        let buttons = typeSize.isAccessibilitySize
            ? AnyLayout(VStackLayout(spacing: 12)) : AnyLayout(HStackLayout(spacing: 12))
        return ScrollView {
            VStack(spacing: 16) {
                CameraPreview(session: model.camera.session)
                    .frame(height: typeSize.isAccessibilitySize ? 160 : 260)
                    .accessibilityHidden(true)
                Text(model.answer.isEmpty ? model.status : model.answer)
                    .font(.largeTitle.bold())
                    .multilineTextAlignment(.center)
                    .fixedSize(horizontal: false, vertical: true)
                    .accessibilityLabel(model.answer.isEmpty ? model.status : "Answer: \(model.answer)")
                TextField("Type a question", text: $typedQuestion)
                    .textFieldStyle(.roundedBorder)
                    .font(.title2)
                    .submitLabel(.send)
                    .onSubmit { Task { await model.ask(typedQuestion) } }
                    .accessibilityLabel("Question")
                    .accessibilityHint("Type a question, then send it to take a photo and hear the answer.")
                buttons {
                    VoiceButton(speech: model.speech,
                                start: { await model.startListening() },
                                stopAndAsk: { await model.stopListeningAndAsk() })
                    Button {
                        Task { await model.ask(model.defaultQuestion) }
                    } label: {
                        Text(model.defaultQuestion)
                            .font(.title2)
                            .frame(maxWidth: .infinity, minHeight: 60)
                    }
                    .buttonStyle(.bordered)
                    .accessibilityLabel("Ask: \(model.defaultQuestion)")
                    .accessibilityHint("Takes a photo and asks the default question.")
                }
                Button {
                    Task { await model.ask(typedQuestion.isEmpty ? model.defaultQuestion : typedQuestion) }
                } label: {
                    Image(systemName: "camera.circle.fill")
                        .resizable()
                        .scaledToFit()
                        .frame(width: 140, height: 140)
                }
                .accessibilityLabel("Take photo and answer")
                .accessibilityHint("Takes a photo and answers the typed question, or the default question.")
                Button("Settings") { showSettings = true }
                    .font(.title3)
                    .accessibilityLabel("Settings")
                    .accessibilityHint("Default question, retake threshold, model and compute units.")
            }
            .padding()
        }
        .accessibilityAction(.magicTap) {
            Task { await model.ask(model.defaultQuestion) }
        }
        .sheet(isPresented: $showSettings) {
            SettingsView().environmentObject(model)
        }
    }
}

/// Starts listening; a second tap stops, waits for the last words and asks what was heard.
@MainActor
struct VoiceButton: View {
    @ObservedObject var speech: SpeechInput
    let start: () async -> Void
    let stopAndAsk: () async -> Void

    var body: some View {
        Button {
            Task {
                if speech.listening {
                    await stopAndAsk()
                } else {
                    await start()
                }
            }
        } label: {
            Label(speech.listening ? "Stop and ask" : "Speak", systemImage: "mic.fill")
                .font(.title2)
                .frame(maxWidth: .infinity, minHeight: 60)
        }
        .buttonStyle(.bordered)
        .accessibilityLabel(speech.listening ? "Stop listening and ask" : "Ask by voice")
        .accessibilityHint("Speak your question; tap again when you are done.")
    }
}

@MainActor
struct SettingsView: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        NavigationStack {
            Form {
                Section("Default question") {
                    TextField("Default question", text: $model.defaultQuestion)
                        .accessibilityLabel("Default question")
                        .accessibilityHint("The question one tap, or the Magic Tap, asks.")
                }
                Section("Retake hint") {
                    Slider(value: $model.retakeThreshold, in: 0...1, step: 0.05)
                        .accessibilityLabel("Retake threshold")
                        .accessibilityValue("\(Int(model.retakeThreshold * 100)) percent")
                        .accessibilityHint("Below this answerable score the app says it cannot tell and suggests retaking the photo.")
                }
                Section("Model") {
                    Picker("Bundle", selection: $model.bundleName) {
                        ForEach(model.bundles, id: \.lastPathComponent) { url in
                            Text(url.lastPathComponent).tag(url.lastPathComponent)
                        }
                    }
                    .accessibilityLabel("Model bundle")
                    .accessibilityHint("Which exported Core ML bundle answers.")
                    Picker("Compute units", selection: $model.computeUnits) {
                        ForEach(ComputeUnitsChoice.allCases) { choice in
                            Text(choice.label).tag(choice.rawValue)
                        }
                    }
                    .accessibilityLabel("Compute units")
                    .accessibilityHint("Where Core ML runs the model.")
                }
            }
            .navigationTitle("Settings")
            .toolbar {
                Button("Done") {
                    dismiss()
                    Task { await model.loadModel() }
                }
                .accessibilityLabel("Done")
                .accessibilityHint("Closes the settings; a different model or compute units are loaded.")
            }
        }
    }
}
