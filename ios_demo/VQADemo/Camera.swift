@preconcurrency import AVFoundation
import Foundation
import SwiftUI
import UIKit

/// Why the camera cannot take a photo, in words a user can act on.
enum CameraError: Error, CustomStringConvertible {
    case denied
    case restricted
    case noCamera
    case notRunning
    case busy
    case timedOut
    case noPhoto

    var description: String {
        switch self {
        case .denied:
            return "The app may not use the camera. Allow it in Settings, Privacy and Security, Camera."
        case .restricted: return "The camera is restricted on this phone."
        case .noCamera: return "This device has no back camera."
        case .notRunning:
            return "The camera is not available right now; another app may be using it. Try again in a moment."
        case .busy: return "Still taking the last photo."
        case .timedOut: return "The camera did not return a photo. Try again."
        case .noPhoto: return "The camera returned no photo. Try again."
        }
    }
}

/// The back camera: a preview session and one photo at a time, as HEIC or JPEG data.
///
/// Every AVFoundation call runs on `queue` (as in Apple's AVCam: starting a session blocks), and
/// `inFlight` is touched only there; that is what makes the class safe to share
/// (`@unchecked Sendable`). Before each capture it checks authorization, that the session runs
/// and is not interrupted and that the photo output has an enabled, active video connection:
/// `capturePhoto` without one raises an Objective-C exception that Swift cannot catch.
final class Camera: @unchecked Sendable {
    let session = AVCaptureSession()
    let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back)
    private let output = AVCapturePhotoOutput()
    private let queue = DispatchQueue(label: "org.vizwiz.vqa.camera")
    private var inFlight: PhotoCapture?

    /// The longer side the photo output is capped at (the smallest supported size at least this
    /// large): the model sees 384-480 px and the quality check 256.
    static let photoSide: Int32 = 1920
    /// A capture that has not finished after this long fails instead of waiting forever.
    static let captureTimeout: TimeInterval = 10

    /// Asks for camera access (once) and starts the session; nil when it runs, else why not.
    func start() async -> CameraError? {
        switch AVCaptureDevice.authorizationStatus(for: .video) {
        case .authorized:
            break
        case .notDetermined:
            guard await AVCaptureDevice.requestAccess(for: .video) else { return .denied }
        case .restricted:
            return .restricted
        default:
            return .denied
        }
        guard device != nil else { return .noCamera }
        return await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: self.configureAndRun())
            }
        }
    }

    /// On `queue`: the input, the output with its size cap, and the session running.
    private func configureAndRun() -> CameraError? {
        guard let device else { return .noCamera }
        if session.inputs.isEmpty {
            guard let input = try? AVCaptureDeviceInput(device: device) else { return .notRunning }
            session.beginConfiguration()
            session.sessionPreset = .photo
            if session.canAddInput(input) { session.addInput(input) }
            if session.canAddOutput(output) { session.addOutput(output) }
            session.commitConfiguration()
            // After the commit, when the preset has chosen the active format: the cap must be
            // one of that format's sizes.
            let sizes = device.activeFormat.supportedMaxPhotoDimensions
            let bigEnough = sizes.filter { max($0.width, $0.height) >= Camera.photoSide }
            if let size = bigEnough.min(by: { $0.width * $0.height < $1.width * $1.height })
                ?? sizes.max(by: { $0.width * $0.height < $1.width * $1.height })
            {
                output.maxPhotoDimensions = size
            }
        }
        if !session.isRunning { session.startRunning() }
        return session.isRunning ? nil : .notRunning
    }

    /// Turns the torch on or off (the quality check asks for light when a photo is too dark).
    func setTorch(_ on: Bool) {
        queue.async {
            guard let device = self.device, device.hasTorch, device.isTorchModeSupported(on ? .on : .off),
                  (try? device.lockForConfiguration()) != nil
            else { return }
            device.torchMode = on ? .on : .off
            device.unlockForConfiguration()
        }
    }

    /// Takes a photo with the capture rotated by `rotationAngle` degrees (from the rotation
    /// coordinator). Throws a CameraError instead of letting AVFoundation raise.
    func capture(rotationAngle: CGFloat) async throws -> Data {
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    try self.checkReady()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                guard let connection = self.output.connection(with: .video) else {
                    continuation.resume(throwing: CameraError.notRunning)
                    return
                }
                if connection.isVideoRotationAngleSupported(rotationAngle) {
                    connection.videoRotationAngle = rotationAngle
                }
                let capture = PhotoCapture(continuation) { [queue = self.queue] finished in
                    queue.async { if self.inFlight === finished { self.inFlight = nil } }
                }
                self.inFlight = capture
                let settings = AVCapturePhotoSettings()
                let cap = self.output.maxPhotoDimensions
                if cap.width > 0, cap.height > 0 { settings.maxPhotoDimensions = cap }
                self.output.capturePhoto(with: settings, delegate: capture)
                self.queue.asyncAfter(deadline: .now() + Camera.captureTimeout) {
                    capture.finish(.failure(CameraError.timedOut))
                }
            }
        }
    }

    /// On `queue`: throws unless a photo can be taken now.
    private func checkReady() throws {
        guard AVCaptureDevice.authorizationStatus(for: .video) == .authorized else {
            throw CameraError.denied
        }
        guard inFlight == nil else { throw CameraError.busy }
        guard session.isRunning, !session.isInterrupted,
              let connection = output.connection(with: .video),
              connection.isEnabled, connection.isActive
        else {
            throw CameraError.notRunning
        }
    }
}

/// One photo's delegate: resumes its continuation exactly once, when the capture finishes
/// (`didFinishCaptureFor`, which AVFoundation always calls last, also after an error), or when
/// the camera's timeout gives up on it. Callbacks arrive on AVFoundation's queues, so the
/// state is behind a lock.
final class PhotoCapture: NSObject, AVCapturePhotoCaptureDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Data, Error>?
    private var photo: Result<Data, Error>?
    private let done: @Sendable (PhotoCapture) -> Void

    init(_ continuation: CheckedContinuation<Data, Error>,
         done: @escaping @Sendable (PhotoCapture) -> Void)
    {
        self.continuation = continuation
        self.done = done
    }

    func photoOutput(_ output: AVCapturePhotoOutput, didFinishProcessingPhoto photo: AVCapturePhoto,
                     error: Error?)
    {
        let result: Result<Data, Error>
        if let error {
            result = .failure(error)
        } else if let data = photo.fileDataRepresentation() {
            result = .success(data)
        } else {
            result = .failure(CameraError.noPhoto)
        }
        lock.lock()
        self.photo = result
        lock.unlock()
    }

    func photoOutput(_ output: AVCapturePhotoOutput,
                     didFinishCaptureFor resolvedSettings: AVCaptureResolvedPhotoSettings,
                     error: Error?)
    {
        lock.lock()
        let processed = photo
        lock.unlock()
        if let processed {
            finish(processed)
        } else {
            finish(.failure(error ?? CameraError.noPhoto))
        }
    }

    /// Resumes the continuation the first time only.
    func finish(_ result: Result<Data, Error>) {
        lock.lock()
        let pending = continuation
        continuation = nil
        lock.unlock()
        guard let pending else { return }
        pending.resume(with: result)
        done(self)
    }
}

struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspectFill
        view.isAccessibilityElement = false
        return view
    }

    func updateUIView(_ uiView: PreviewView, context: Context) {}
}
