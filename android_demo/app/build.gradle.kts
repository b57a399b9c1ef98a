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
            // Phones; add "x86_64" for the emulator.
            abiFilters += listOf("arm64-v8a")
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
            // directly. PyTorch Android Lite 1.13.1's libraries are 4 KB aligned and do not load
            // on 16 KB-page devices whatever this says: PyTorchLiteEngine reports that.
            useLegacyPackaging = false
            // ONNX Runtime and PyTorch Lite both ship libc++_shared.so.
            pickFirsts += listOf("lib/*/libc++_shared.so", "lib/*/libfbjni.so")
        }
    }
}

kotlin {
    jvmToolchain(17)
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
    implementation(libs.executorch.android)
    implementation(libs.pytorch.android.lite)
}
