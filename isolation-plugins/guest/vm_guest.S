# Guest program for the `vm` scheme: 64-bit long mode, loaded at guest-physical 0x8000,
# identity-mapped by one 2 MiB page. Assemble with:
#   as --64 -o /tmp/g.o vm_guest.S && objdump -d -M intel /tmp/g.o
# The bytes are pasted, with these instructions as comments, into src/vm/guest.rs.
#
# Mailbox (guest-physical):
#   0x10000 op      (u64, written by the host before resuming the vCPU)
#   0x10008 arg     (u64: rounds or a record count)
#   0x10010 result  (u64, written by the guest)
#   0x10018 key     (u64, guest -> host for a hypercall-style record read)
#   0x10100 input   (256 bytes, the kernel's input)
#   0x11000 records (64 records of 64 bytes, shared guest memory)
#   0x12000 scratch (a record copied in by the host on a hypercall)
#   0x20000 chase   (65536 u32 slots, the memory kernel's buffer, written by the host on first use)
# Ports: 0x10 = "done, waiting for the next command"; 0x11 = "read record [key] into scratch".
    .intel_syntax noprefix
    .code64
top:
    out 0x10, al                        # exit to the host: one warm round trip
    mov rax, qword ptr [0x10000]        # op
    cmp rax, 1
    je fnv
    cmp rax, 2
    je shared
    cmp rax, 3
    je hyper
    cmp rax, 4
    je arith
    cmp rax, 5
    je memory
    jmp top                             # op 0: nothing, back to the exit
fnv:                                    # FNV-1a 64 over input, `arg` rounds
    mov ecx, dword ptr [0x10008]
    movabs rax, 0xcbf29ce484222325
    movabs r8, 0x100000001b3
round:
    test ecx, ecx
    jz fnv_done
    mov esi, 0x10100
    mov edx, 256
bloop:
    movzx r9d, byte ptr [rsi]
    xor rax, r9
    imul rax, r8
    inc rsi
    dec edx
    jnz bloop
    dec ecx
    jmp round
fnv_done:
    mov qword ptr [0x10010], rax
    jmp top
shared:                                 # read `arg` records from shared guest memory
    mov ecx, dword ptr [0x10008]
    xor eax, eax
    xor edx, edx                        # record index
s_loop:
    test ecx, ecx
    jz s_done
    mov esi, edx
    and esi, 63
    shl esi, 6
    add rax, qword ptr [rsi + 0x11000]  # touch the record: add its first word
    add rax, qword ptr [rsi + 0x11038]  # and its last word
    inc edx
    dec ecx
    jmp s_loop
s_done:
    mov qword ptr [0x10010], rax
    jmp top
hyper:                                  # read `arg` records through a hypercall-style exit each
    mov ecx, dword ptr [0x10008]
    xor edi, edi                        # accumulator
    xor edx, edx                        # key
h_loop:
    test ecx, ecx
    jz h_done
    mov qword ptr [0x10018], rdx
    out 0x11, al                        # exit: the host copies record `key` to 0x12000
    add rdi, qword ptr [0x12000]
    inc edx
    dec ecx
    jmp h_loop
h_done:
    mov qword ptr [0x10010], rdi
    jmp top
arith:                                  # the arith kernel of src/kernels.rs, `arg` rounds
    mov ecx, dword ptr [0x10008]
    mov eax, 1                          # x
    xor edi, edi                        # acc
    mov r8d, 1000003                    # M
a_round:
    test ecx, ecx
    jz a_done
    xor edx, edx                        # i
a_step:
    mov rsi, rax
    shr rsi, 3
    add rax, rsi                        # x += x >> 3
    add rax, rdx                        # x += i
    cmp rax, r8
    jb a_x_ok
    sub rax, r8                         # x -= M
a_x_ok:
    add rdi, rax                        # acc += x
    cmp rdi, r8
    jb a_acc_ok
    sub rdi, r8                         # acc -= M
a_acc_ok:
    inc edx
    cmp edx, 256
    jb a_step
    dec ecx
    jmp a_round
a_done:
    shl rdi, 20
    add rdi, rax                        # checksum = acc << 20 + x
    mov qword ptr [0x10010], rdi
    jmp top
memory:                                 # the memory kernel: p = next[p] over 0x20000
    mov ecx, dword ptr [0x10008]
    xor eax, eax                        # p
    xor edi, edi                        # acc
    mov r8d, 1000003                    # M
m_round:
    test ecx, ecx
    jz m_done
    mov edx, 256
m_step:
    mov eax, dword ptr [rax*4 + 0x20000]  # p = next[p] (zero-extends into rax)
    add rdi, rax                        # acc += p
    cmp rdi, r8
    jb m_acc_ok
    sub rdi, r8                         # acc -= M
m_acc_ok:
    dec edx
    jnz m_step
    dec ecx
    jmp m_round
m_done:
    shl rdi, 16
    add rdi, rax                        # checksum = acc << 16 + p
    mov qword ptr [0x10010], rdi
    jmp top
