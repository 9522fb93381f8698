//! Generates the Thrift types and the `ImService` server/client glue from the
//! IDL at build time, so the wire contract lives in exactly one file.
fn main() {
    println!("cargo:rerun-if-changed=idl/idl_rpc.thrift");
    volo_build::Builder::thrift()
        .add_service("idl/idl_rpc.thrift")
        .write()
        .expect("volo-build failed to generate code from idl/idl_rpc.thrift");
}
