import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "org.vizwiz.vqa"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.vizwiz.vqa"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            // Phones (arm64-v8a) and the Android emulator on a PC (x86_64).
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    // One runtime family a variant: ExecuTorch (fbjni 0.7) and PyTorch Android Lite (fbjni
    // java-only 0.2.2) both bring com.facebook.jni classes and libfbjni.so, in incompatible
    // versions, so one build cannot hold both. "standard" (the default) has ONNX Runtime and
    // ExecuTorch; "pytorchLite" has ONNX Runtime and PyTorch Android Lite 1.13.1 (deprecated,
    // and its native libraries are not 16 KB page aligned: Google Play rejects them for apps
    // that target Android 15+, and 16 KB-page phones cannot load them).
    flavorDimensions += "runtime"
    productFlavors {
        create("standard") {
            dimension = "runtime"
            isDefault = true
        }
        // Same application id, so `python -m benchmark android` starts either build alike;
        // installing one replaces the other.
        create("pytorchLite") {
            dimension = "runtime"
            versionNameSuffix = "-lite"
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
    }

    packaging {
        jniLibs {
            // Uncompressed and page-aligned in the APK, so the runtimes' .so files are mapped
            // directly.
            useLegacyPackaging = false
            // ONNX Runtime and PyTorch Lite both ship the NDK's libc++_shared.so.
            pickFirsts += listOf("lib/*/libc++_shared.so")
        }
    }
}

// A bytecode target, not a toolchain: builds with whichever JDK 17+ runs Gradle (Android
// Studio's bundled JDK 21 included).
kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.androidx.exifinterface)
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.onnxruntime.android)
    "standardImplementation"(libs.executorch.android)
    "pytorchLiteImplementation"(libs.pytorch.android.lite)
}
