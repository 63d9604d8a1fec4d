/// The elementwise GPU kernels, as PTX text that the driver compiles at load
/// time (`cuModuleLoadData`). No CUDA toolkit is needed to build Sheaf.
///
/// PTX ISA 7.0 targeting `sm_50`: the driver JIT-compiles it for the GPU at
/// hand, so any GPU of compute capability 5.0 or newer with a driver from
/// CUDA 11.0 (R450) on can run it.
enum Kernels {
    static let isaVersion = "7.0"
    static let target = "sm_50"

    /// Binary float32 kernels: `out[i] = a[(i / adiv) % amod] OP b[(i / bdiv) % bmod]`,
    /// which covers equal shapes, scalars, and broadcasting of one contiguous
    /// block of dimensions.
    static let binary: [(name: String, instruction: String)] = [
        ("add_f32", "add.f32"), ("sub_f32", "sub.f32"), ("mul_f32", "mul.f32"), ("div_f32", "div.rn.f32"),
    ]

    static var names: [String] { binary.map(\.name) + ["eq_f32", "relu_f32", "fill_f32", "widen_bf16_f32", "widen_f16_f32"] }

    /// `out[i] = float(in[i])` for 16-bit floats, as a load widens bfloat16 or
    /// float16 weights on the device; `conversion` turns the 16 bits in `%h1` into `%f1`.
    private static func widenKernel(_ name: String, _ conversion: String) -> String {
        """
        .visible .entry \(name)(.param .u64 p_out, .param .u64 p_in, .param .u64 p_n)
        {
            .reg .b16 %h<2>;
        \(prologue)
            ld.param.u64 %rd1, [p_out];
            ld.param.u64 %rd2, [p_in];
            ld.param.u64 %rd4, [p_n];
            setp.ge.u64 %p1, %rd9, %rd4;
            @%p1 bra DONE;
            cvta.to.global.u64 %rd2, %rd2;
            cvta.to.global.u64 %rd1, %rd1;
            shl.b64 %rd15, %rd9, 1;
            add.u64 %rd13, %rd2, %rd15;
            ld.global.u16 %h1, [%rd13];
        \(conversion)
            shl.b64 %rd15, %rd9, 2;
            add.u64 %rd16, %rd1, %rd15;
            st.global.f32 [%rd16], %f1;
        DONE:
            ret;
        }

        """
    }

    private static let prologue = """
        .reg .pred %p<3>;
        .reg .b32 %r<6>;
        .reg .b64 %rd<24>;
        .reg .f32 %f<5>;
        mov.u32 %r1, %ctaid.x;
        mov.u32 %r2, %ntid.x;
        mov.u32 %r3, %tid.x;
        mul.wide.u32 %rd9, %r1, %r2;
        cvt.u64.u32 %rd10, %r3;
        add.u64 %rd9, %rd9, %rd10;
    """

    private static func binaryKernel(_ name: String, _ body: String) -> String {
        """
        .visible .entry \(name)(
            .param .u64 p_out, .param .u64 p_a, .param .u64 p_b, .param .u64 p_n,
            .param .u64 p_adiv, .param .u64 p_amod, .param .u64 p_bdiv, .param .u64 p_bmod)
        {
        \(prologue)
            ld.param.u64 %rd1, [p_out];
            ld.param.u64 %rd2, [p_a];
            ld.param.u64 %rd3, [p_b];
            ld.param.u64 %rd4, [p_n];
            ld.param.u64 %rd5, [p_adiv];
            ld.param.u64 %rd6, [p_amod];
            ld.param.u64 %rd7, [p_bdiv];
            ld.param.u64 %rd8, [p_bmod];
            setp.ge.u64 %p1, %rd9, %rd4;
            @%p1 bra DONE;
            div.u64 %rd11, %rd9, %rd5;
            rem.u64 %rd11, %rd11, %rd6;
            div.u64 %rd12, %rd9, %rd7;
            rem.u64 %rd12, %rd12, %rd8;
            cvta.to.global.u64 %rd2, %rd2;
            cvta.to.global.u64 %rd3, %rd3;
            cvta.to.global.u64 %rd1, %rd1;
            shl.b64 %rd11, %rd11, 2;
            add.u64 %rd13, %rd2, %rd11;
            ld.global.f32 %f1, [%rd13];
            shl.b64 %rd12, %rd12, 2;
            add.u64 %rd14, %rd3, %rd12;
            ld.global.f32 %f2, [%rd14];
        \(body)
        DONE:
            ret;
        }

        """
    }

    static let ptx: String = {
        var text = """
        .version \(isaVersion)
        .target \(target)
        .address_size 64

        """
        for (name, instruction) in binary {
            text += binaryKernel(name, """
                \(instruction) %f3, %f1, %f2;
                shl.b64 %rd15, %rd9, 2;
                add.u64 %rd16, %rd1, %rd15;
                st.global.f32 [%rd16], %f3;
            """)
        }
        text += binaryKernel("eq_f32", """
            setp.eq.f32 %p2, %f1, %f2;
            selp.u32 %r4, 1, 0, %p2;
            add.u64 %rd16, %rd1, %rd9;
            st.global.u8 [%rd16], %r4;
        """)
        text += """
        .visible .entry relu_f32(.param .u64 p_out, .param .u64 p_a, .param .u64 p_n)
        {
        \(prologue)
            ld.param.u64 %rd1, [p_out];
            ld.param.u64 %rd2, [p_a];
            ld.param.u64 %rd4, [p_n];
            setp.ge.u64 %p1, %rd9, %rd4;
            @%p1 bra DONE;
            cvta.to.global.u64 %rd2, %rd2;
            cvta.to.global.u64 %rd1, %rd1;
            shl.b64 %rd15, %rd9, 2;
            add.u64 %rd13, %rd2, %rd15;
            ld.global.f32 %f1, [%rd13];
            setp.lt.f32 %p2, %f1, 0f00000000;
            selp.f32 %f3, 0f00000000, %f1, %p2;
            add.u64 %rd16, %rd1, %rd15;
            st.global.f32 [%rd16], %f3;
        DONE:
            ret;
        }

        .visible .entry fill_f32(.param .u64 p_out, .param .f32 p_value, .param .u64 p_n)
        {
        \(prologue)
            ld.param.u64 %rd1, [p_out];
            ld.param.f32 %f1, [p_value];
            ld.param.u64 %rd4, [p_n];
            setp.ge.u64 %p1, %rd9, %rd4;
            @%p1 bra DONE;
            cvta.to.global.u64 %rd1, %rd1;
            shl.b64 %rd15, %rd9, 2;
            add.u64 %rd16, %rd1, %rd15;
            st.global.f32 [%rd16], %f1;
        DONE:
            ret;
        }

        """
        text += widenKernel("widen_bf16_f32", """
                cvt.u32.u16 %r4, %h1;
                shl.b32 %r4, %r4, 16;
                mov.b32 %f1, %r4;
            """)
        text += widenKernel("widen_f16_f32", """
                cvt.f32.f16 %f1, %h1;
            """)
        return text
    }()
}
