import Foundation
import XCTest
@testable import VQACore

/// The reply a user hears: abstention in plain words, the retake reason from the quality check.
final class SpokenReplyTests: XCTestCase {
    private let answers = ["red", "circle", "unanswerable"]

    private func decoded(_ logits: [Float]) throws -> AnswerDecoder.Decoded {
        return try AnswerDecoder(answers: answers, unanswerableIndex: 2).decode(logits)
    }

    private func report(_ verdict: ImageQuality.Verdict) -> ImageQuality.Report {
        return ImageQuality.Report(verdict: verdict, meanLuma: 100, brightFraction: 0,
                                   laplacianVar: 500, width: 256, height: 192)
    }

    func testAnAbstentionNeverSaysTheLabel() throws {
        // The unanswerable class wins.
        let chosen = try decoded([0, 0, 5])
        for verdict in ImageQuality.Verdict.allCases {
            let reply = SpokenReply.make(chosen, unanswerableIndex: 2, threshold: 0.5,
                                         quality: report(verdict), lightTurnedOn: false)
            XCTAssertFalse(reply.confident)
            XCTAssertFalse(reply.text.lowercased().contains("unanswerable"), reply.text)
            XCTAssertTrue(reply.text.hasPrefix("I can't tell from this photo."), reply.text)
        }
    }

    func testTheReasonIsSpecific() throws {
        let chosen = try decoded([0, 0, 5])
        let dark = SpokenReply.make(chosen, unanswerableIndex: 2, threshold: 0.5,
                                    quality: report(.tooDark), lightTurnedOn: true)
        XCTAssertTrue(dark.text.contains("too dark") && dark.text.contains("turned on the light"), dark.text)
        let blurred = SpokenReply.make(chosen, unanswerableIndex: 2, threshold: 0.5,
                                       quality: report(.blurred), lightTurnedOn: false)
        XCTAssertTrue(blurred.text.contains("blurred"), blurred.text)
        let bright = SpokenReply.make(chosen, unanswerableIndex: 2, threshold: 0.5,
                                      quality: report(.tooBright), lightTurnedOn: false)
        XCTAssertTrue(bright.text.contains("too bright"), bright.text)
    }

    func testALowAnswerableScoreAbstains() throws {
        // "red" wins, but logit 3 for unanswerable gives answerable 1 - sigmoid(3) = 0.047 < 0.5.
        let unsure = try decoded([4, 0, 3])
        XCTAssertEqual(unsure.answer, "red")
        let reply = SpokenReply.make(unsure, unanswerableIndex: 2, threshold: 0.5,
                                     quality: report(.ok), lightTurnedOn: false)
        XCTAssertFalse(reply.confident)
        XCTAssertFalse(reply.text.contains("red"), reply.text)
    }

    func testAConfidentAnswerIsSaidAsItIs() throws {
        // answerable = 1 - sigmoid(-4) = 0.982.
        let sure = try decoded([4, 0, -4])
        let reply = SpokenReply.make(sure, unanswerableIndex: 2, threshold: 0.5,
                                     quality: report(.ok), lightTurnedOn: false)
        XCTAssertEqual(reply, SpokenReply(text: "red", confident: true))
        let blurred = SpokenReply.make(sure, unanswerableIndex: 2, threshold: 0.5,
                                       quality: report(.blurred), lightTurnedOn: false)
        XCTAssertTrue(blurred.confident)
        XCTAssertTrue(blurred.text.hasPrefix("red.") && blurred.text.contains("blurred"), blurred.text)
    }
}
