// The core's command line, `java -jar` on a desktop (`make android-core` builds the same jar
// without Gradle). It decodes image files with javax.imageio, so it is a module of its own that
// the app never packages.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
    application
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

application {
    mainClass.set("org.vizwiz.vqa.cli.MainKt")
}

dependencies {
    implementation(project(":core"))
    implementation(libs.android.json)
}
