// Pure Kotlin/JVM: no android.*, javax.* or java.awt, so it builds and tests on any JVM (also
// `make android-test`) and R8 finds nothing desktop-only in what the app packages.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

// A bytecode target instead of a toolchain: Gradle runs on whichever JDK 17+ is there (Android
// Studio's bundled JDK 21 included) without downloading another.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // org.json is part of Android; on the JVM, Android's own implementation (as Debian's
    // libandroid-json-java that `make android-test` uses).
    compileOnly(libs.android.json)
    testImplementation(libs.android.json)
    testImplementation(libs.junit)
}

tasks.test {
    val repo = rootProject.projectDir.parentFile
    systemProperty("vqa.golden", repo.resolve("tests/golden").path)
    // A bundle exported by `scripts/write_golden_vectors.py --bundle DIR` runs the manifest tests.
    System.getenv("VQA_BUNDLE")?.let { systemProperty("vqa.bundle", it) }
    System.getenv("BEIT3_SPM")?.let { environment("BEIT3_SPM", it) }
    testLogging { events("failed", "skipped") }
}
