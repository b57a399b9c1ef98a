import Accessibility
import SwiftUI

@MainActor
struct ContentView: View {
    @EnvironmentObject var model: AppModel
    @State private var typedQuestion = ""
    @State private var showSettings = false

    var body: some View {
        if let message = model.benchmarkMessage {
            Text(message)
                .font(.body)
                .padding()
                .accessibilityLabel("Benchmark: \(message)")
        } else {
            mainScreen
        }
    }

    private var mainScreen: some View {
        VStack(spacing: 16) {
            CameraPreview(session: model.camera.session)
                .frame(maxHeight: 260)
                .accessibilityHidden(true)
            Text(model.answer.isEmpty ? model.status : model.answer)
                .font(.largeTitle.bold())
                .multilineTextAlignment(.center)
                .accessibilityLabel(model.answer.isEmpty ? model.status : "Answer: \(model.answer)")
            TextField("Type a question", text: $typedQuestion)
                .textFieldStyle(.roundedBorder)
                .font(.title2)
                .submitLabel(.send)
                .onSubmit { Task { await model.ask(typedQuestion) } }
                .accessibilityLabel("Question")
                .accessibilityHint("Type a question, then send it to take a photo and hear the answer.")
            HStack(spacing: 12) {
                VoiceButton(speech: model.speech) { question in await model.ask(question) }
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
            .disabled(model.busy)
            .accessibilityLabel("Take photo and answer")
            .accessibilityHint("Takes a photo and answers the typed question, or the default question.")
            Button("Settings") { showSettings = true }
                .font(.title3)
                .accessibilityLabel("Settings")
                .accessibilityHint("Default question, retake threshold, model and compute units.")
        }
        .padding()
        .sheet(isPresented: $showSettings) {
            SettingsView().environmentObject(model)
        }
    }
}

/// Starts listening; a second tap stops and asks what was heard.
@MainActor
struct VoiceButton: View {
    @ObservedObject var speech: SpeechInput
    let ask: (String) async -> Void

    var body: some View {
        Button {
            Task {
                if speech.listening {
                    speech.stop()
                    await ask(speech.transcript)
                } else {
                    await speech.start()
                    if let reason = speech.unavailableReason {
                        AccessibilityNotification.Announcement(reason).post()
                    }
                }
            }
        } label: {
            Label(speech.listening ? "Stop and ask" : "Speak", systemImage: "mic.fill")
                .font(.title2)
                .frame(maxWidth: .infinity, minHeight: 60)
        }
        .buttonStyle(.bordered)
        .accessibilityLabel(speech.listening ? "Stop listening and ask" : "Ask by voice")
        .accessibilityHint(speech.unavailableReason
            ?? "Speak your question; tap again when you are done.")
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
                        .accessibilityHint("The question one tap asks.")
                }
                Section("Retake hint") {
                    Slider(value: $model.retakeThreshold, in: 0...1, step: 0.05)
                        .accessibilityLabel("Retake threshold")
                        .accessibilityValue("\(Int(model.retakeThreshold * 100)) percent")
                        .accessibilityHint("Below this answerable score the app suggests retaking the photo.")
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
                .accessibilityHint("Closes the settings and reloads the model.")
            }
        }
    }
}
